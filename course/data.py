"""课程用的手写数字数据：随课程包一起安装的 8×8 digits，以及读取本地 MNIST 文件的代码。

两个函数都按书里 load_mnist 的习惯返回 ((x_train, t_train), (x_test, t_test))：
  x: (N, D) 的浮点数组（normalize=True 时取值在 [0, 1]）
  t: (N,) 的整数标签，或 one_hot=True 时 (N, 10) 的 one-hot 数组

- load_digits_dataset：1797 张 8×8 手写数字（D = 64），存在课程包里的 digits.npz（约 45 KB），
  只用 NumPy 读取，不需要联网，也不需要 scikit-learn；
- load_mnist：从本地文件夹读取标准 idx 格式的 MNIST（28×28，D = 784），文件可以是 .gz 压缩的；
  本课程不替你下载，缺文件时给出中文说明。

digits.npz 的来源与许可：数据是 UCI 机器学习库的 “Optical Recognition of Handwritten Digits”
（E. Alpaydin, C. Kaynak, 1998, https://doi.org/10.24432/C50P49 ），按 CC BY 4.0 许可发布；
这里的 1797 张图是该数据集的测试部分，也就是 scikit-learn 随包附带的那一份（sklearn.datasets.load_digits），
用它一次性导出：
images (1797, 8, 8) uint8，像素 0~16；labels (1797,) uint8，0~9。
"""
import gzip
import numbers
import os
from pathlib import Path

import numpy as np

__all__ = ["load_digits_dataset", "load_mnist", "read_idx", "to_one_hot", "MNIST_FILES", "MNIST_ENV", "DIGITS_FILE"]

MNIST_ENV = "COURSE_MNIST_DIR"
MNIST_FILES = {
    "train_img": "train-images-idx3-ubyte",
    "train_label": "train-labels-idx1-ubyte",
    "test_img": "t10k-images-idx3-ubyte",
    "test_label": "t10k-labels-idx1-ubyte",
}
# idx 格式第 3 个字节表示元素类型；MNIST 只用到 0x08（无符号字节）
_IDX_UBYTE = 0x08


def to_one_hot(labels, n_classes=10):
    """整数标签 (N,) -> one-hot (N, n_classes) 的 float64 数组。"""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("to_one_hot 需要一维的整数标签数组，收到的形状是 %s、类型是 %s" % (labels.shape, labels.dtype))
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError("标签应在 0 到 %d 之间，收到的最小值 %d、最大值 %d" % (n_classes - 1, labels.min(), labels.max()))
    out = np.zeros((labels.size, n_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


DIGITS_FILE = Path(__file__).with_name("digits.npz")
_digits_cache = {}


def _digits_arrays():
    """(images (1797, 64) uint8, labels (1797,) uint8)；读一次以后留在内存里。"""
    if "data" not in _digits_cache:
        try:
            with np.load(DIGITS_FILE) as f:
                images, labels = f["images"], f["labels"]
        except (OSError, KeyError, ValueError) as exc:
            raise FileNotFoundError("读不了课程包里的手写数字文件 %s（%s）。课程包可能没有装完整，"
                                    "在仓库根目录重新运行 pip install -e . 试试" % (DIGITS_FILE, exc)) from None
        images = images.reshape(len(images), -1)
        images.setflags(write=False)
        labels.setflags(write=False)
        _digits_cache["data"] = (images, labels)
    return _digits_cache["data"]


def load_digits_dataset(normalize=True, one_hot=False, test_size=0.2, seed=0):
    """1797 张 8×8 手写数字，按类别分层随机划分成训练集和测试集。

    normalize: True 时像素除以 16，取值在 [0, 1]（原始像素是 0~16 的整数）
    one_hot: True 时标签是 (N, 10) 的 one-hot，否则是 (N,) 的整数
    test_size: 测试集占的比例（0 到 1 之间的小数），或测试样本的个数（正整数）
    seed: 划分用的随机种子，同一个 seed 每次得到同样的划分
    返回 (x_train, t_train), (x_test, t_test)，x 是 float64 的 (N, 64)，两部分各自打乱了顺序
    """
    images, labels = _digits_arrays()
    n_test = _test_count(test_size, len(labels))
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError("seed 应当是 0 到 2**32-1 之间的整数，收到的是 %r" % (seed,))
    test_idx, train_idx = _stratified_split(labels, n_test, np.random.default_rng(int(seed)))

    x = images.astype(np.float64)
    if normalize:
        x /= 16.0
    t = labels.astype(np.int64)
    t_train, t_test = t[train_idx], t[test_idx]
    if one_hot:
        t_train, t_test = to_one_hot(t_train), to_one_hot(t_test)
    return (x[train_idx], t_train), (x[test_idx], t_test)


def _stratified_split(labels, n_test, rng):
    """分层划分：每个类别按它在全体中的比例进入测试集，小测试集里各类也不缺。返回 (测试下标, 训练下标)。

    每类先分到 floor(n_test * 类内个数 / 总数) 个名额，剩下的名额给小数部分最大的那几类
    （一样大时随机挑），每类在训练集和测试集里都至少留一个。
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = n_test * counts / counts.sum()
    quota = np.clip(np.floor(exact).astype(int), 1, counts - 1)
    # 小数部分大的先得名额；加一点随机的微小扰动，只用来打破平局
    order = np.lexsort((rng.random(len(classes)), -(exact - np.floor(exact))))
    k = 0
    while quota.sum() != n_test:  # 名额多了（每类至少一个）就从小数部分最小的类里收回
        step = 1 if quota.sum() < n_test else -1
        c = (order if step > 0 else order[::-1])[k % len(classes)]
        if 1 <= quota[c] + step <= counts[c] - 1:
            quota[c] += step
        k += 1
    test, train = [], []
    for c, q in zip(classes, quota):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[:q])
        train.append(members[q:])
    return rng.permutation(np.concatenate(test)), rng.permutation(np.concatenate(train))


def _test_count(test_size, n, n_classes=10):
    """把 test_size 换算成测试样本数；分层划分要求训练集和测试集里每个类别都至少有一个样本。"""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError("test_size 应当是 0 到 1 之间的小数或正整数，收到的是 %r" % (test_size,))
    if isinstance(test_size, numbers.Integral):
        count = int(test_size)
    elif 0 < test_size < 1:
        count = int(round(test_size * n))
    else:
        raise ValueError("test_size 作为比例应在 0 和 1 之间（不含两端），收到的是 %r" % test_size)
    if not n_classes <= count <= n - n_classes:
        raise ValueError("测试集应有 %d 到 %d 个样本（每个数字在训练集和测试集里都至少要有一个），"
                         "test_size=%r 得到的是 %d 个" % (n_classes, n - n_classes, test_size, count))
    return count


def read_idx(file):
    """读取一个 idx 文件（可以是 .gz），返回 uint8 的 numpy 数组，形状由文件头决定。

    idx 格式：2 个 0 字节、1 个类型字节、1 个维数字节，然后是每一维的长度（大端 32 位整数），
    最后是按行存储的数据。
    """
    file = Path(file)
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError("读不了 %s：%s。文件可能损坏了，或者下载不完整" % (file, exc)) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("%s 不是 idx 格式的文件（开头应是两个 0 字节）" % file)
    if raw[2] != _IDX_UBYTE:
        raise ValueError("%s 的元素类型是 0x%02x，这里只支持 MNIST 用的 0x08（无符号字节）" % (file, raw[2]))
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError("%s 的文件头不完整" % file)
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ValueError("%s 的数据长度不对：文件头说有 %d 个字节的数据（形状 %s），实际有 %d 个；文件可能不完整"
                         % (file, size, shape, len(raw) - header))
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(path=None, normalize=True, flatten=True, one_hot=False):
    """从本地文件夹读取 MNIST（不联网）。

    path: 放着 4 个 idx 文件（或它们的 .gz）的文件夹；不给时用环境变量 COURSE_MNIST_DIR，
          再不行就用 ~/.cache/course-mnist
    normalize: True 时像素除以 255，得到 [0, 1] 的 float32；False 时保留 0~255 的 uint8
    flatten: True 时每张图展平成 784 维，否则形状是 (N, 1, 28, 28)
    one_hot: True 时标签是 (N, 10) 的 one-hot
    返回 (x_train, t_train), (x_test, t_test)
    """
    folder = Path(path or os.environ.get(MNIST_ENV) or Path.home() / ".cache" / "course-mnist").expanduser()
    files, missing = {}, []
    for key, name in MNIST_FILES.items():
        for candidate in (folder / name, folder / (name + ".gz")):
            if candidate.is_file():
                files[key] = candidate
                break
        else:
            missing.append(name)
    if missing:
        raise FileNotFoundError(_missing_message(folder, missing))

    data = {key: read_idx(f) for key, f in files.items()}
    for part in ("train", "test"):
        img, label = data[part + "_img"], data[part + "_label"]
        if img.ndim != 3 or label.ndim != 1:
            raise ValueError("%s 的图像文件应是三维 (N, 行, 列)、标签文件应是一维 (N,)，实际形状是 %s 和 %s"
                             % (part, img.shape, label.shape))
        if len(img) != len(label):
            raise ValueError("%s 的图像有 %d 张，标签却有 %d 个：两个文件不配套" % (part, len(img), len(label)))
        if label.size and label.max() > 9:
            raise ValueError("%s 的标签里出现了 %d，MNIST 的标签只有 0~9" % (part, label.max()))

    def images(img):
        x = img.astype(np.float32) / 255.0 if normalize else img.copy()
        return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *img.shape[1:])

    def labels(lab):
        return to_one_hot(lab.astype(np.int64)) if one_hot else lab.astype(np.int64)

    return ((images(data["train_img"]), labels(data["train_label"])),
            (images(data["test_img"]), labels(data["test_label"])))


def _missing_message(folder, missing):
    lines = ["在文件夹 %s 里找不到 MNIST 的这些文件（也没有对应的 .gz）：" % folder]
    lines += ["  - %s" % name for name in missing]
    lines += [
        "本课程不会自动下载数据。要用 MNIST 的话：",
        "  1. 从 MNIST 的发布页面或它的镜像下载 4 个文件（train-images、train-labels、t10k-images、t10k-labels），",
        "     保持原来的文件名，.gz 压缩的也可以直接用，不必解压；",
        "  2. 把它们放进同一个文件夹，然后调用 load_mnist(\"那个文件夹\")，",
        "     或者设置环境变量 %s 指向它，或者直接放进 ~/.cache/course-mnist。" % MNIST_ENV,
        "没有 MNIST 也没关系：load_digits_dataset() 用的是课程包自带的 8×8 手写数字，离线就能用。",
    ]
    return "\n".join(lines)
