"""course.gradcheck：数值微分、相对误差、向量-雅可比积的检查。"""
import numpy as np
import pytest

from course.gradcheck import (
    check_backward, eval_numerical_gradient_array, numerical_diff, numerical_gradient, rel_error,
)
from course.reference.layers import Affine, Relu, Sigmoid


def test_numerical_diff_central_difference():
    assert numerical_diff(lambda x: x ** 2, 3.0) == pytest.approx(6.0, abs=1e-8)
    # 中心差分对三次函数的误差是 h²，前向差分是 h：这里确认用的是中心差分
    assert numerical_diff(lambda x: x ** 3, 1.0) == pytest.approx(3.0, abs=2e-8)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4)])
def test_numerical_gradient_any_shape_and_restores_input(shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    before = x.copy()
    grad = numerical_gradient(lambda z: np.sum(z ** 3), x)
    assert grad.shape == shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_rejects_non_float_arrays_with_message():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda z: z.sum(), np.arange(3))
    with pytest.raises(TypeError, match="list"):
        numerical_gradient(lambda z: 0.0, [1.0, 2.0])


def test_rel_error_definition():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(np.array([1.0, 3.0]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    assert rel_error(0.0, 0.0) == 0.0  # 分母 1e-8，不会 0/0
    assert rel_error(1e-9, 0.0) == pytest.approx(1e-9 / 1e-8)


def test_vjp_matches_affine_backward_and_catches_transposed_dw():
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    layer = Affine(W, b)
    layer.forward(x)
    dx = layer.backward(dout)
    assert rel_error(dx, eval_numerical_gradient_array(lambda z: Affine(W, b).forward(z), x.copy(), dout)) < 1e-8
    num_dW = eval_numerical_gradient_array(lambda w: Affine(w, b).forward(x), W.copy(), dout)
    assert rel_error(layer.dW, num_dW) < 1e-8
    # 一个常见错误：dW 写成 x.T @ dout 的“转置版本”——形状就对不上
    assert (dout.T @ x).shape != num_dW.shape


@pytest.mark.parametrize("layer_cls", [Relu, Sigmoid])
def test_check_backward_accepts_correct_layers(layer_cls):
    x = np.random.default_rng(3).standard_normal((3, 4)) + 0.05  # 避开 ReLU 的拐点

    def backward(z, dout):
        layer = layer_cls()
        layer.forward(z)
        return layer.backward(dout)

    err, ana, num = check_backward(lambda z: layer_cls().forward(z), backward, x)
    assert err < 1e-7
    assert ana.shape == num.shape == x.shape


def test_check_backward_catches_a_wrong_sigmoid():
    x = np.random.default_rng(4).standard_normal((2, 3))

    def wrong(z, dout):  # 漏了 (1 - y)
        y = 1 / (1 + np.exp(-z))
        return dout * y

    err, _, _ = check_backward(lambda z: 1 / (1 + np.exp(-z)), wrong, x)
    assert err > 1e-2
