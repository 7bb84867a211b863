"""演示班级里的常见错误：每一条都是真实学生常犯的错，写成可以放进练习单元的函数体。

BUGS[编号] = (说明, 课, {(grade_id, 函数名): 代码})。一个“常见错误”学生在每一课犯一个错，
其余部分用参考答案。哪些测试单元因此不得分，由 tests/test_demo_class.py 逐条写明。
"""

__all__ = ["BUGS", "PARTIAL"]

BUGS = {
    # ---- 第一组（李）
    "no_dout": ("反向传播忘了乘上游的 dout（dout = 1 时看不出来）", "01", {
        ("apple_orange_backward", "apple_orange_backward"): """
            apple_price = apple * apple_num
            orange_price = orange * orange_num
            all_price = apple_price + orange_price
            dall_price = tax  # 忘了乘 dout
            dtax = all_price
            return {"all_price": dall_price, "tax": dtax, "apple_price": dall_price, "orange_price": dall_price,
                    "apple": dall_price * apple_num, "apple_num": dall_price * apple,
                    "orange": dall_price * orange_num, "orange_num": dall_price * orange}
        """}),
    "mul_swapped": ("乘法层的反向传播没有“翻转”：传给 x 的乘了 x 自己", "02", {
        ("mul_layer", "backward"): """
            dx = dout * self.x
            dy = dout * self.y
            return dx, dy
        """}),
    "relu_inplace": ("ReLU 层的 backward 直接改了传进来的 dout", "03", {
        ("relu_layer", "backward"): """
            dout[self.mask] = 0
            dx = dout
            return dx
        """}),
    "db_not_summed": ("Affine 层的 db 没有沿批求和", "04", {
        ("affine", "backward"): """
            dx = np.dot(dout, self.W.T)
            self.dW = np.dot(self.x.T, dout)
            self.db = dout
            return dx.reshape(*self.original_x_shape)
        """}),
    "no_forward": ("gradient 里没有先做正向传播，用的是上一次留下的值", "05", {
        ("two_layer_net", "gradient"): """
            dout = self.lastLayer.backward(1)
            for layer in reversed(list(self.layers.values())):
                dout = layer.backward(dout)
            grads = {}
            grads["W1"], grads["b1"] = self.layers["Affine1"].dW, self.layers["Affine1"].db
            grads["W2"], grads["b2"] = self.layers["Affine2"].dW, self.layers["Affine2"].db
            return grads
        """}),
    "assign_not_add": ("自动微分的 _backward 里用了 = 而不是 +=，分叉处的梯度被覆盖", "06", {
        ("value_add_mul", "__add__"): """
            other = other if isinstance(other, Value) else Value(other)
            out = Value(self.data + other.data, (self, other), "+")

            def _backward():
                self.grad = out.grad
                other.grad = out.grad

            out._backward = _backward
            return out
        """,
        ("value_add_mul", "__mul__"): """
            other = other if isinstance(other, Value) else Value(other)
            out = Value(self.data * other.data, (self, other), "*")

            def _backward():
                self.grad = other.data * out.grad
                other.grad = self.data * out.grad

            out._backward = _backward
            return out
        """}),
    # ---- 第二组（周）
    "forward_difference": ("数值微分用了前向差分 (f(x+h) - f(x)) / h", "01", {
        ("numerical_diff", "numerical_diff"): "return (f(x + h) - f(x)) / h",
    }),
    "shared_layer": ("苹果和橘子共用了一个乘法层对象，反向传播时存着的是橘子的输入", "02", {
        ("apple_orange_with_layers", "apple_orange_with_layers"): """
            mul_fruit_layer = MulLayer()  # 两种水果共用一个层
            add_apple_orange_layer = AddLayer()
            mul_tax_layer = MulLayer()
            apple_price = mul_fruit_layer.forward(apple, apple_num)
            orange_price = mul_fruit_layer.forward(orange, orange_num)
            all_price = add_apple_orange_layer.forward(apple_price, orange_price)
            price = mul_tax_layer.forward(all_price, tax)
            dall_price, dtax = mul_tax_layer.backward(dout)
            dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
            dapple, dapple_num = mul_fruit_layer.backward(dapple_price)
            dorange, dorange_num = mul_fruit_layer.backward(dorange_price)
        """}),
    "sigmoid_missing_y": ("Sigmoid 层的 backward 少乘了一个 y：写成了 dout * (1 - y)", "03", {
        ("sigmoid_layer", "backward"): "return dout * (1.0 - self.out)",
    }),
    "no_batch_division": ("Softmax-with-Loss 层的 backward 没有除以批大小", "04", {
        ("softmax_with_loss", "backward"): "return (self.y - self.t) * dout",
    }),
    "softmax_1d_only": ("softmax 照抄了只管 1 维的写法：一批输入时整批一起减最大值、一起归一化", "04", {
        ("softmax", "softmax"): """
            c = np.max(x)
            exp_x = np.exp(x - c)
            return exp_x / np.sum(exp_x)
        """}),
    "sgd_rebinds": ("sgd_step 给 params[key] 赋了一个新数组，不是原地更新（层里的参数没变）", "05", {
        ("sgd_step", "sgd_step"): """
            for key in params:
                params[key] = params[key] - lr * grads[key]
        """}),
    "breadth_first": ("backward 没有按拓扑顺序，而是按离输出的步数一层层处理", "06", {
        ("value_backward", "backward"): """
            self.grad = 1.0
            queue, seen = [self], {self}
            while queue:
                node = queue.pop(0)
                node._backward()
                for child in node._prev:
                    if child not in seen:
                        seen.add(child)
                        queue.append(child)
        """}),
}

# 部分完成（孙）：每课写了的练习（其余保持学生版的占位代码）
PARTIAL = {
    "01": [("shopping_forward", "*"), ("numerical_diff", "*"), ("chain_rule_derivatives", "dz_dx"), ("one_pass_quiz", "*")],
    "02": [("mul_layer", "*"), ("apple_orange_with_layers", "*"), ("add_node_quiz", "*")],
    "03": [("relu_layer", "*"), ("sigmoid_layer", "forward"), ("relu_mask_quiz", "*")],
    "04": [("affine", "forward"), ("softmax", "*"), ("cross_entropy_error", "*"), ("affine_transpose_quiz", "*")],
    "05": [("two_layer_net", "predict"), ("two_layer_net", "loss"), ("gradient_check", "*"), ("sgd_step", "*"),
           ("concept_q1", "*"), ("concept_q2", "*"), ("concept_q3", "*")],
    "06": [("value_add_mul", "*"), ("value_backward", "*"), ("apple_orange_sigmoid", "buy_apple_orange"),
           ("mlp_layer", "*"), ("mlp_mlp", "*"), ("concept_order_answer", "*")],
}
