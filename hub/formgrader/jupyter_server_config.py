"""formgrader 服务的 Jupyter Server 配置。

JupyterHub 默认禁止单用户服务器被嵌进 iframe；nbgrader 的 JupyterLab 插件正是用同源的 iframe
显示 formgrader，所以这里只放宽到同源。
"""
c = get_config()  # noqa: F821  (Jupyter Server 加载配置时提供 get_config)

c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
