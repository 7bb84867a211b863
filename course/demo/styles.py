"""演示班级里“另一种写法”的正确答案：和参考答案算的是同一个东西，写法不同。

循环代替向量化、@ 代替 np.dot、np.where 代替布尔下标、迭代代替递归、别的变量名……
评分只看结果，这些答案都应当拿满分（tests/test_demo_class.py 检查这一点）。

键是 (练习单元的 grade_id, 函数名)，值是顶格书写的函数体（course.demo.notebooks.fill 负责缩进）。
"""

__all__ = ["ALT"]

ALT = {
    "01": {
        ("shopping_forward", "buy_apple"): "return apple * apple_num * tax",
        ("shopping_forward", "buy_apple_orange"): """
            edges = {"apple_price": apple * apple_num, "orange_price": orange * orange_num}
            edges["all_price"] = edges["apple_price"] + edges["orange_price"]
            edges["price"] = edges["all_price"] * tax
            return edges
        """,
        ("apple_orange_backward", "apple_orange_backward"): """
            subtotal = apple * apple_num + orange * orange_num
            d_subtotal = dout * tax  # 经过最后的乘法节点
            grads = {"all_price": d_subtotal, "tax": dout * subtotal,
                     "apple_price": d_subtotal, "orange_price": d_subtotal}
            grads.update(apple=d_subtotal * apple_num, apple_num=d_subtotal * apple,
                         orange=d_subtotal * orange_num, orange_num=d_subtotal * orange)
            return grads
        """,
        ("numerical_diff", "numerical_diff"): """
            right, left = f(x + h), f(x - h)
            return (right - left) / (h + h)
        """,
        ("chain_rule_derivatives", "dz_dx"): "return 2 * (x + y)",
        ("chain_rule_derivatives", "dw_dx"): "return 9 * (3 * x + y ** 2) ** 2",
        ("chain_rule_derivatives", "dw_dy"): """
            inner = 3 * x + y * y
            return 6 * y * inner ** 2
        """,
        # 概念题：别的写法、别的返回类型（list 代替 tuple、numpy 数、带“误差”两字）也算对
        ("one_pass_quiz", "*"): "return [1, n + n]",
        ("flip_value_quiz", "*"): "return tax * apple_num",
        ("small_h_quiz", "*"): 'return "舍入误差" if h < 1e-5 else "截断误差"',
    },
    "02": {
        ("mul_layer", "forward"): """
            self.x, self.y = x, y
            return self.x * self.y
        """,
        ("mul_layer", "backward"): "return self.y * dout, self.x * dout",
        ("add_layer", "forward"): """
            out = x + y
            return out
        """,
        ("add_layer", "backward"): "return 1.0 * dout, 1.0 * dout",
        ("apple_orange_with_layers", "apple_orange_with_layers"): """
            layer = {"apple": MulLayer(), "orange": MulLayer(), "sum": AddLayer(), "tax": MulLayer()}
            apple_price = layer["apple"].forward(apple, apple_num)
            orange_price = layer["orange"].forward(orange, orange_num)
            all_price = layer["sum"].forward(apple_price, orange_price)
            price = layer["tax"].forward(all_price, tax)
            dall_price, dtax = layer["tax"].backward(dout)
            dapple_price, dorange_price = layer["sum"].backward(dall_price)
            dorange, dorange_num = layer["orange"].backward(dorange_price)
            dapple, dapple_num = layer["apple"].backward(dapple_price)
        """,
        ("add_node_quiz", "*"): """
            local = {"+": (1, 1), "*": (y, x), "max": (float(x > y), float(y > x))}[op]
            return [dout * d for d in local]
        """,
        ("add_layer_state_quiz", "*"): 'return op not in ("+", "-", "*3")',
        ("backward_order_quiz", "*"): 'return order[:2] == ["mul_tax_layer", "add_apple_orange_layer"]',
    },
    "03": {
        ("relu_layer", "forward"): """
            self.mask = x <= 0
            return np.where(self.mask, 0.0, x)
        """,
        ("relu_layer", "backward"): "return np.where(self.mask, 0.0, dout)",
        ("sigmoid_layer", "forward"): """
            # 1 / (1 + e^(-x)) 写成 exp(-log(1 + e^(-x)))，x 很负时也不会溢出
            self.out = np.exp(-np.logaddexp(0.0, -x))
            return self.out
        """,
        ("sigmoid_layer", "backward"): """
            y = self.out
            return dout * (1.0 - y) * y
        """,
        ("relu_mask_quiz", "*"): "return np.where(np.asarray(x) <= 0, 0, dout)",
        ("relu_inplace_quiz", "*"): """
            dout = dout.copy()
            dout[x <= 0] = 0  # 书上的 backward 原地改掉的就是这个数组
            return 2 * dout
        """,
        ("sigmoid_chain_quiz", "*"): "return 0.25 ** n * c ** n",
        ("sigmoid_steps", "sigmoid_backward_steps"): """
            e = np.exp(-x)
            denominator = 1.0 + e
            dc = -dout / denominator ** 2
            db = 1.0 * dc
            da = db * e
            dx = -1.0 * da
            return dc, db, da, dx
        """,
    },
    "04": {
        ("affine", "forward"): """
            self.original_x_shape = x.shape
            self.x = x.reshape(len(x), -1)
            return self.x @ self.W + self.b
        """,
        ("affine", "backward"): """
            self.dW = self.x.T @ dout
            self.db = dout.sum(axis=0)
            return (dout @ self.W.T).reshape(self.original_x_shape)
        """,
        ("softmax", "softmax"): """
            shifted = x - x.max(axis=-1, keepdims=True)
            e = np.exp(shifted)
            return e / e.sum(axis=-1, keepdims=True)
        """,
        ("cross_entropy_error", "cross_entropy_error"): """
            t = np.asarray(t)
            if y.ndim == 1:
                y, t = y.reshape(1, -1), t.reshape(1, -1)
            n = y.shape[0]
            if t.size == y.size:  # one-hot：只有正确类别那一项不为 0
                return -np.sum(t.reshape(y.shape) * np.log(y + 1e-7)) / n
            return -np.sum(np.log(y[np.arange(n), t.reshape(-1)] + 1e-7)) / n
        """,
        ("softmax_with_loss", "forward"): """
            self.t, self.y = t, softmax(x)
            self.loss = cross_entropy_error(self.y, t)
            return self.loss
        """,
        ("softmax_with_loss", "backward"): """
            n = self.t.shape[0]
            return dout * (self.y - self.t) / n
        """,
        ("affine_transpose_quiz", "*"): "return dY @ V",
        ("affine_bias_sum_quiz", "*"): "return dout.sum()",
        ("softmax_loss_batch_quiz", "*"): "return np.subtract(y, t)",
    },
    "05": {
        ("two_layer_net", "predict"): """
            out = x
            for name in ("Affine1", "Relu1", "Affine2"):
                out = self.layers[name].forward(out)
            return out
        """,
        ("two_layer_net", "loss"): "return self.lastLayer.forward(self.predict(x), t)",
        ("two_layer_net", "gradient"): """
            self.loss(x, t)
            dout = self.lastLayer.backward(1)
            for name in ("Affine2", "Relu1", "Affine1"):
                dout = self.layers[name].backward(dout)
            first, second = self.layers["Affine1"], self.layers["Affine2"]
            return {"W1": first.dW, "b1": first.db, "W2": second.dW, "b2": second.db}
        """,
        ("gradient_check", "gradient_check"): """
            numerical = network.numerical_gradient(x, t)
            backprop = network.gradient(x, t)
            errors = {}
            for key, value in numerical.items():
                errors[key] = rel_error(value, backprop[key])
            return errors
        """,
        ("fixed_network", "gradient"): """
            self.loss(x, t)
            dout = self.layers["Affine2"].backward(self.lastLayer.backward(1))
            dout = self.layers["Relu1"].backward(dout)
            self.layers["Affine1"].backward(dout)
            # "W1" -> Affine1 的 dW，"b2" -> Affine2 的 db
            return {key: getattr(self.layers["Affine" + key[1]], "d" + key[0]) for key in ("W1", "b1", "W2", "b2")}
        """,
        ("sgd_step", "sgd_step"): """
            for key in params:
                np.subtract(params[key], lr * grads[key], out=params[key])
        """,
        # 概念题：别的写法
        ("concept_q1", "q1"): "return w * dout, xs[len(xs) - 1] * dout",
        ("concept_q2", "q2"): """
            wrong = sorted(k for k, v in errors.items() if v > 0.01)
            if len(wrong) == 4:
                return "SoftmaxWithLoss"
            return "Affine2" if wrong[0] in ("W2", "b2") else "Affine1"
        """,
        ("concept_q3", "q3"): "return (k, k * k)",
    },
    "06": {
        ("value_add_mul", "__add__"): """
            if not isinstance(other, Value):
                other = Value(other)
            out = Value(self.data + other.data, (self, other), "+")

            def _backward():
                for node in (self, other):  # a + a 时同一个节点收到两份
                    node.grad += out.grad

            out._backward = _backward
            return out
        """,
        ("value_add_mul", "__mul__"): """
            if not isinstance(other, Value):
                other = Value(other)
            out = Value(self.data * other.data, (self, other), "*")

            def _backward():
                a, b = self.data, other.data
                self.grad += b * out.grad
                other.grad += a * out.grad

            out._backward = _backward
            return out
        """,
        ("value_pow_exp_tanh_relu", "__pow__"): """
            x = self.data
            out = Value(x ** k, (self,), "**%g" % k)

            def _backward():
                self.grad += out.grad * k * x ** (k - 1)

            out._backward = _backward
            return out
        """,
        ("value_pow_exp_tanh_relu", "exp"): """
            e = math.exp(self.data)
            out = Value(e, (self,), "exp")

            def _backward():
                self.grad += e * out.grad

            out._backward = _backward
            return out
        """,
        ("value_pow_exp_tanh_relu", "tanh"): """
            t = math.tanh(self.data)
            out = Value(t, (self,), "tanh")

            def _backward():
                self.grad += (1 - t * t) * out.grad

            out._backward = _backward
            return out
        """,
        ("value_pow_exp_tanh_relu", "relu"): """
            out = Value(max(self.data, 0.0), (self,), "ReLU")  # micrograd 的写法：运算名只是画图的标签

            def _backward():
                if self.data > 0:
                    self.grad += out.grad

            out._backward = _backward
            return out
        """,
        ("value_backward", "backward"): """
            # 不用递归：栈里放 (节点, 它的输入是否都已排好)
            order, seen, stack = [], set(), [(self, False)]
            while stack:
                node, ready = stack.pop()
                if ready:
                    order.append(node)
                elif node not in seen:
                    seen.add(node)
                    stack.append((node, True))
                    stack.extend((child, False) for child in node._prev)
            self.grad = 1.0
            for node in reversed(order):
                node._backward()
        """,
        ("zero_grad", "zero_grad"): """
            queue, seen = [root], {id(root)}
            while queue:
                node = queue.pop()
                node.grad = 0.0
                for child in node._prev:
                    if id(child) not in seen:
                        seen.add(id(child))
                        queue.append(child)
        """,
        ("apple_orange_sigmoid", "buy_apple_orange"): "return (apple * apple_num + orange * orange_num) * tax",
        ("apple_orange_sigmoid", "sigmoid"): "return (1 + (x * -1).exp()) ** -1",
        ("neuron", "neuron"): "return sum((w * x for w, x in zip(ws, xs)), b).tanh()",
        ("concept_order_answer", "*"): "return b * 1.0, b + b * k",
        ("concept_zero_answer", "*"): "return list(np.cumsum(gs))",
        ("mlp_neuron", "__call__"): """
            act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
            return act if self.linear else act.relu()
        """,
        ("mlp_neuron", "parameters"): "return [*self.w, self.b]",
        ("mlp_layer", "__call__"): """
            outs = []
            for neuron in self.neurons:
                outs.append(neuron(x))
            return outs
        """,
        ("mlp_layer", "parameters"): """
            params = []
            for neuron in self.neurons:
                params += neuron.parameters()
            return params
        """,
        ("mlp_mlp", "__call__"): """
            import functools
            return functools.reduce(lambda h, layer: layer(h), self.layers, x)
        """,
        ("mlp_mlp", "parameters"): "return sum((layer.parameters() for layer in self.layers), [])",
        ("mlp_loss_sgd", "hinge_loss"): """
            scores = [model(list(row))[0] for row in X]
            margins = [(1 + (-float(t)) * s).relu() for s, t in zip(scores, y)]
            return sum(margins) * (1.0 / len(margins))
        """,
        ("mlp_loss_sgd", "train_step"): """
            zero_grad(loss)  # 练习 4：整张图清零，参数是图里的叶子，也一起清了
            loss.backward()
            for p in params:
                p.data += -lr * p.grad
        """,
        ("concept_last_layer_answer", "*"): """
            if z <= 0:
                return 1.0, 0.0  # ReLU 把分数截成 0：损失停在 1，导数是 0
            return max(0.0, 1 - y * z), (-y if y * z < 1 else 0.0)
        """,
    },
}
