"""评分边界的协议：学生的内核与评分一方之间只传纯数据的消息通道（两端共用这个包）。

autograde 时测试单元不在学生的内核里运行，而在一个单独的“评判进程”里（judge.py，它本身也在
沙箱里）。两端各有一个 Peer，中间是一个 Unix 套接字，每条消息是 4 字节长度 + 一段 JSON。

线上的值（两端都只解码下面这些，别的一律拒绝）：
    None、布尔、数、字符串；{"i"} 大整数，{"f"} inf/nan，{"t"} tuple，{"c"} 复数，{"sl"} slice，
    {"e"} Ellipsis，{"fs"} frozenset，{"n"} numpy 标量，{"a"} 数组（dtype、形状、字节；只收数值类型），
    {"l"} list，{"d"} dict，{"s"} set，{"r": 编号} 收方自己交出去过的对象，{"h": 编号, "o": 描述} 发方的对象。

评判进程（trusted=True）一方交给内核的东西：
    - 数据一律按值：数组、list、dict、set 都是拷贝，不带句柄，内核拿不到评判进程里的任何对象；
    - 函数（def、lambda、绑定方法、内置函数）按句柄：内核只能调用它（"call"），参数、返回值都是数据；
    - 声明了 remote_methods 的替身对象（例如第 05 课检查里记录调用顺序的替身层）按句柄：内核只能
      读 remote_methods 里的方法（再调用它）；声明了 remote_methods 的类也按句柄，内核只能调用它，
      得到一个替身对象（第 02 课把记录调用的层类交给学生的函数）；它若声明了 remote_delegate，其余属性的读写转给它包着的
      那个内核里的对象（学生自己的层）；
    - 其余对象（模块、类、生成器、文件……）根本送不出去（RemoteError：检查函数写错了）。
    句柄只在这个测试单元的通道上有效（每个测试单元一个新通道）。
    一次请求里按值交给内核的数组，若被学生代码原地改过，内核在回答里附上新内容（"wb"，按这次请求里
    数组的序号），评判进程只据此改写这一次请求交出去的数组，形状不同就不改；别的回答里的 "wb" 一概不理。

内核（trusted=False）一方交给评判进程的东西：
    学生的对象（函数、类、实例）按句柄，评判进程拿到的是代理：调用、取属性、运算……每个动作都变成
    一条请求，由内核照做；数组、list、dict 按值并带着句柄，评判进程改写它们时改写也送回内核。
    内核送来的模块（{"m"}）评判进程不解码：评判进程从不按对方给的名字导入任何东西。

内核能请求评判进程做的事，只有：call（调用交给它的函数）、getattr / setattr（只对替身对象，见上）、
bool、repr / str（固定的文字，不调用对象的 repr）、describe。别的请求一律拒绝。

评判进程能请求内核做的事：names（一次取回学生单元定义过的一批名字，见 judge.py）、get、getattr、
setattr、delattr、getitem、setitem、delitem、getattrs、call、iter、next、contains、unary、binary、
repr、str、array、signature、namespaces、describe、release。内核照做，学生能改坏的只是内核里的这一份
模块，送回来的仍然只是数据。

评判进程一方的上限：一条消息最大 MAX_TRUSTED_MESSAGE 字节（先看长度，再读内容，超了就断开），
解码出的数组元素不超过 MAX_ELEMENTS；异常信息截到 MAX_TEXT 个字符。

这个包只依赖标准库和 numpy，在内核里由 serve() 进入；checks 和 grading 都在它上面，它不导入它们：
    errors.py      异常类型、student_where、异常与纯数据的互换
    channel.py     传输：长度 + JSON 的消息、大小和时间上限
    codec.py       线上的值：编码、解码（含数组的上限）
    proxies.py     评判进程一端看到的内核对象（代理、类代理、写回内核的 list/dict/数组）
    standins.py    替身，以及内核对评判进程的对象能做的全部事情（perform_trusted）
    kernel_ops.py  评判进程能请求内核做的事（perform）
    peer.py        通道的一端：句柄表、请求与回答、写回；serve() / serve_socket()
"""
from .channel import MAX_MESSAGE, MAX_TRUSTED_MESSAGE, connect_listener
from .codec import MAX_DEPTH, MAX_ELEMENTS, MODULES, ByRef
from .errors import ChannelClosed, ChannelError, ChannelTimeout, RemoteError, safe_str, student_where
from .kernel_ops import MAX_NAMES, NAMES_BY_VALUE_BYTES
from .peer import Peer, serve, serve_socket
from .proxies import Proxy, getattrs, is_remote, remote_namespaces
from .standins import RNG_METHODS, StandIn, class_namespaces

__all__ = ["Peer", "Proxy", "ByRef", "StandIn", "RNG_METHODS", "is_remote", "remote_namespaces", "class_namespaces",
           "RemoteError", "ChannelError", "ChannelClosed", "ChannelTimeout", "serve", "serve_socket",
           "connect_listener", "student_where", "safe_str", "getattrs", "MODULES", "MAX_ELEMENTS", "MAX_DEPTH", "MAX_NAMES",
           "MAX_MESSAGE", "MAX_TRUSTED_MESSAGE", "NAMES_BY_VALUE_BYTES"]
