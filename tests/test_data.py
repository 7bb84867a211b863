"""course.data：离线的 digits 数据，以及在测试自己生成的小 idx 文件上读取 MNIST。"""
import gzip
import struct

import numpy as np
import pytest

from course import data
from course.data import load_digits_dataset, load_mnist, read_idx, to_one_hot


# ---- digits ------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def test_digits_shapes_and_range(digits):
    (x_train, t_train), (x_test, t_test) = digits
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64)
    assert t_train.shape == (1438,) and t_test.shape == (359,)
    assert x_train.dtype == np.float64 and t_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # 分层划分：每个数字在测试集里都有，而且各类数量相差不大
    counts = np.bincount(t_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_digits_split_is_deterministic_and_disjoint(digits):
    (x_train, _), (x_test, _) = digits
    (x_train2, _), (x_test2, _) = load_digits_dataset()
    assert np.array_equal(x_train, x_train2) and np.array_equal(x_test, x_test2)
    (x_train3, _), _ = load_digits_dataset(seed=1)
    assert not np.array_equal(x_train, x_train3)
    (x_all, _), (x_rest, _) = load_digits_dataset(normalize=False, test_size=100)
    assert len(x_rest) == 100 and len(x_all) == 1697
    assert x_all.max() == 16.0 and np.all(x_all == np.round(x_all))


def test_digits_come_from_the_package_file_without_scikit_learn():
    import subprocess
    import sys
    code = ("import sys; from course.data import load_digits_dataset; (x, t), _ = load_digits_dataset(); "
            "print(len(x), 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["1438", "False"], out.stderr
    with np.load(data.DIGITS_FILE) as f:
        assert f["images"].shape == (1797, 8, 8) and f["images"].dtype == np.uint8
        assert np.bincount(f["labels"]).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_small_test_sets_keep_every_class():
    for n in (10, 11, 57):
        (_, t_train), (_, t_test) = load_digits_dataset(test_size=n, seed=3)
        counts = np.bincount(t_test, minlength=10)
        assert len(t_test) == n and counts.min() >= 1 and counts.max() - counts.min() <= 1
        assert np.bincount(t_train, minlength=10).min() >= 1


def test_digits_one_hot(digits):
    (_, t_train), (_, t_test) = load_digits_dataset(one_hot=True)
    assert t_train.shape == (1438, 10) and t_test.shape == (359, 10)
    assert np.array_equal(t_train.argmax(axis=1), digits[0][1])
    assert np.all(t_train.sum(axis=1) == 1)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"test_size": 0}, ValueError, "测试集应有"),
    ({"test_size": 1.5}, ValueError, "在 0 和 1 之间"),
    ({"test_size": 0.001}, ValueError, "测试集应有"),
    ({"test_size": "0.2"}, TypeError, "test_size 应当是"),
    ({"test_size": True}, TypeError, "test_size 应当是"),
    ({"seed": -1}, ValueError, "seed 应当是"),
    ({"seed": 0.5}, ValueError, "seed 应当是"),
])
def test_digits_bad_arguments(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        load_digits_dataset(**kwargs)


def test_to_one_hot():
    assert np.array_equal(to_one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="整数标签"):
        to_one_hot(np.array([[1, 2]]))
    with pytest.raises(ValueError, match="标签应在 0 到 9"):
        to_one_hot(np.array([3, 10]))


# ---- idx 文件与 MNIST ----------------------------------------------------------

def idx_bytes(array, type_byte=0x08):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, type_byte, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.tobytes()


def write(path, content, compress=False):
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(content)
    else:
        path.write_bytes(content)


@pytest.fixture
def mnist_dir(tmp_path):
    """一份很小的“MNIST”：5 张训练图、3 张测试图，每张 4×3 像素；训练图像用 .gz 压缩。"""
    rng = np.random.default_rng(0)
    arrays = {
        "train_img": rng.integers(0, 256, (5, 4, 3)), "train_label": np.array([0, 9, 3, 3, 1]),
        "test_img": rng.integers(0, 256, (3, 4, 3)), "test_label": np.array([7, 2, 5]),
    }
    for key, name in data.MNIST_FILES.items():
        write(tmp_path / name, idx_bytes(arrays[key]), compress=(key == "train_img"))
    return tmp_path, arrays


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(24).reshape(2, 3, 4)
    write(tmp_path / "a", idx_bytes(a))
    write(tmp_path / "b", idx_bytes(a), compress=True)
    for name in ("a", "b.gz"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.uint8 and np.array_equal(got, a)


def test_load_mnist_default_format(mnist_dir):
    folder, arrays = mnist_dir
    (x_train, t_train), (x_test, t_test) = load_mnist(folder)
    assert x_train.shape == (5, 12) and x_test.shape == (3, 12)
    assert x_train.dtype == np.float32
    assert np.allclose(x_train, arrays["train_img"].reshape(5, 12) / 255.0)
    assert np.array_equal(t_train, [0, 9, 3, 3, 1]) and np.array_equal(t_test, [7, 2, 5])


def test_load_mnist_options(mnist_dir, monkeypatch):
    folder, arrays = mnist_dir
    monkeypatch.setenv(data.MNIST_ENV, str(folder))  # 不给 path 时读环境变量
    (x_train, t_train), (x_test, _) = load_mnist(normalize=False, flatten=False, one_hot=True)
    assert x_train.shape == (5, 1, 4, 3) and x_train.dtype == np.uint8
    assert np.array_equal(x_test[:, 0], arrays["test_img"])
    assert t_train.shape == (5, 10) and np.array_equal(t_train.argmax(axis=1), arrays["train_label"])


def test_load_mnist_missing_files_explains_what_to_do(tmp_path):
    (tmp_path / data.MNIST_FILES["train_img"]).write_bytes(idx_bytes(np.zeros((1, 2, 2))))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    msg = str(info.value)
    assert "找不到" in msg and data.MNIST_FILES["test_label"] in msg and data.MNIST_ENV in msg
    assert "- " + data.MNIST_FILES["train_img"] not in msg  # 已有的文件不算缺
    assert "load_digits_dataset" in msg


@pytest.mark.parametrize("key, content, fragment", [
    ("train_label", b"\x01\x02\x08\x01", "不是 idx 格式"),
    ("train_label", idx_bytes([1, 2, 3, 4, 5], type_byte=0x0D), "元素类型"),
    ("train_label", idx_bytes([1, 2, 3, 4, 5])[:-2], "数据长度不对"),
    ("train_label", idx_bytes([1, 2, 3, 4]), "不配套"),
    ("test_label", idx_bytes([1, 2, 12]), "只有 0~9"),
    ("test_img", idx_bytes([1, 2, 3]), "三维"),
    ("test_img", b"\x00\x00\x08", "不是 idx 格式"),
])
def test_load_mnist_rejects_broken_files(mnist_dir, key, content, fragment):
    folder, _ = mnist_dir
    write(folder / data.MNIST_FILES[key], content)
    with pytest.raises(ValueError, match=fragment):
        load_mnist(folder)


def test_corrupt_gzip_is_reported(mnist_dir):
    folder, _ = mnist_dir
    (folder / (data.MNIST_FILES["train_img"] + ".gz")).write_bytes(b"not really gzip")
    with pytest.raises(ValueError, match="读不了"):
        load_mnist(folder)
