"""Small numpy models: logistic regression, softmax regression and an MLP (1 or 2 hidden layers).

All share one interface: a flat float64 parameter vector (`get_params`/`set_params`, in the
order W1, b1, W2, b2, ... with weight matrices row-major), `loss_and_grad` for training,
`predict_proba`, `predict` and `accuracy`. Models travel as blobs: `model_to_bytes` writes an
.npz (allow_pickle=False) holding the parameters and a JSON header with the architecture;
`model_from_bytes` validates both.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np

from trainer.errors import BlobError
from trainer.npz_blob import read_npz_members
from trainer.spec import BountySpec, ModelSpec

MODEL_FORMAT = "quarry-model"
MODEL_FORMAT_VERSION = 1
MAX_MODEL_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Architecture:
    type: str  # "logistic" | "softmax" | "mlp"
    n_features: int
    n_classes: int
    hidden: tuple[int, ...] = ()
    activation: str = "relu"

    @classmethod
    def from_model_spec(cls, m: ModelSpec) -> Architecture:
        return cls(m.type, m.n_features, m.n_classes, tuple(m.hidden), m.activation)

    def layer_shapes(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(weight shape, bias shape) per layer."""
        if self.type == "logistic":
            return [((self.n_features, 1), (1,))]
        widths = [self.n_features, *self.hidden, self.n_classes]
        return [((a, b), (b,)) for a, b in zip(widths[:-1], widths[1:], strict=True)]

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(w)) + int(np.prod(b)) for w, b in self.layer_shapes())

    def to_json(self) -> dict:
        return {
            "type": self.type,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "hidden": list(self.hidden),
            "activation": self.activation,
        }


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class Model:
    """A feed-forward classifier; logistic/softmax are the zero-hidden-layer cases."""

    def __init__(self, arch: Architecture, seed: int = 0) -> None:
        if arch.type not in ("logistic", "softmax", "mlp"):
            raise ValueError(f"unknown model type {arch.type!r}")
        if arch.type == "logistic" and arch.n_classes != 2:
            raise ValueError("logistic regression needs exactly 2 classes")
        self.arch = arch
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        rng = np.random.default_rng(seed)
        for w_shape, b_shape in arch.layer_shapes():
            if arch.type == "mlp":
                # He init for ReLU, Xavier for tanh: keeps activations in range at the start.
                gain = 2.0 if arch.activation == "relu" else 1.0
                std = np.sqrt(gain / w_shape[0])
                self.weights.append(rng.normal(0.0, std, size=w_shape))
            else:
                self.weights.append(np.zeros(w_shape))  # convex: zero start is standard
            self.biases.append(np.zeros(b_shape))

    # -- parameters ------------------------------------------------------------------------

    @property
    def n_params(self) -> int:
        return self.arch.n_params

    def get_params(self) -> np.ndarray:
        parts = []
        for w, b in zip(self.weights, self.biases, strict=True):
            parts += [w.ravel(), b.ravel()]
        return np.concatenate(parts).astype(np.float64, copy=True)

    def set_params(self, vector: np.ndarray) -> None:
        vec = np.asarray(vector, dtype=np.float64)
        if vec.ndim != 1 or vec.size != self.n_params:
            raise ValueError(f"expected {self.n_params} parameters, got shape {vec.shape}")
        offset = 0
        for i, (w_shape, b_shape) in enumerate(self.arch.layer_shapes()):
            size = int(np.prod(w_shape))
            self.weights[i] = vec[offset : offset + size].reshape(w_shape).copy()
            offset += size
            size = int(np.prod(b_shape))
            self.biases[i] = vec[offset : offset + size].reshape(b_shape).copy()
            offset += size

    def copy(self) -> Model:
        other = Model(self.arch)
        other.set_params(self.get_params())
        return other

    # -- forward / backward ----------------------------------------------------------------

    def _activation(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0.0) if self.arch.activation == "relu" else np.tanh(z)

    def _forward(self, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Output logits and the inputs of every layer (for backprop)."""
        h = np.asarray(X, dtype=np.float64)
        inputs = []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            inputs.append(h)
            z = h @ w + b
            h = z if i == last else self._activation(z)
        return h, inputs

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self._forward(X)[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_classes) probabilities."""
        z = self.logits(X)
        if self.arch.type == "logistic":
            p1 = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500, 500)))
            return np.column_stack([1.0 - p1, p1])
        return np.exp(_log_softmax(z))

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = self.logits(X)
        if self.arch.type == "logistic":
            return (z[:, 0] > 0).astype(np.int64)
        return np.argmax(z, axis=1).astype(np.int64)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        if len(y) == 0:
            return 0.0
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def loss(self, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> float:
        return self.loss_and_grad(X, y, l2, need_grad=False)[0]

    def loss_and_grad(
        self, X: np.ndarray, y: np.ndarray, l2: float = 0.0, need_grad: bool = True
    ) -> tuple[float, np.ndarray | None]:
        """Mean cross-entropy + (l2 / 2) * ||weights||^2 (biases not penalised), and its gradient."""
        y = np.asarray(y, dtype=np.int64)
        n = max(len(y), 1)
        z, inputs = self._forward(X)
        if self.arch.type == "logistic":
            s = z[:, 0]
            # log(1 + e^s) - y*s, computed stably
            loss = float(np.mean(np.logaddexp(0.0, s) - y * s))
            p1 = 1.0 / (1.0 + np.exp(-np.clip(s, -500, 500)))
            dz = ((p1 - y) / n)[:, None]
        else:
            logp = _log_softmax(z)
            loss = float(-np.mean(logp[np.arange(len(y)), y]))
            dz = np.exp(logp)
            dz[np.arange(len(y)), y] -= 1.0
            dz /= n
        loss += 0.5 * l2 * sum(float(np.sum(w * w)) for w in self.weights)
        if not need_grad:
            return loss, None
        grads_w: list[np.ndarray] = [np.empty(0)] * len(self.weights)
        grads_b: list[np.ndarray] = [np.empty(0)] * len(self.weights)
        delta = dz
        for i in range(len(self.weights) - 1, -1, -1):
            grads_w[i] = inputs[i].T @ delta + l2 * self.weights[i]
            grads_b[i] = delta.sum(axis=0)
            if i > 0:
                back = delta @ self.weights[i].T
                h = inputs[i]  # = activation(z_{i-1})
                delta = back * (h > 0) if self.arch.activation == "relu" else back * (1.0 - h * h)
        parts = []
        for gw, gb in zip(grads_w, grads_b, strict=True):
            parts += [gw.ravel(), gb.ravel()]
        return loss, np.concatenate(parts)

    def per_example_grads(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(n, n_params): row i is the gradient of example i's own cross-entropy (no L2, not
        divided by n), in get_params order. DP-SGD clips each row before summing, so each
        example's influence on a step is bounded (trainer.dp_sgd)."""
        y = np.asarray(y, dtype=np.int64)
        n = len(y)
        z, inputs = self._forward(X)
        if self.arch.type == "logistic":
            p1 = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500, 500)))
            delta = (p1 - y)[:, None]
        else:
            delta = np.exp(_log_softmax(z))
            delta[np.arange(n), y] -= 1.0
        parts: list[np.ndarray] = []
        for i in range(len(self.weights) - 1, -1, -1):
            # the outer product per example: d loss_j / d W = input_j^T delta_j
            gw = np.einsum("na,nb->nab", inputs[i], delta).reshape(n, -1)
            parts = [gw, delta.copy(), *parts]
            if i > 0:
                back = delta @ self.weights[i].T
                h = inputs[i]
                delta = back * (h > 0) if self.arch.activation == "relu" else back * (1.0 - h * h)
        return np.concatenate(parts, axis=1)

    def l2_grad(self, l2: float) -> np.ndarray:
        """The gradient of (l2 / 2) * ||weights||^2 (biases not penalised), in get_params order:
        it does not depend on the data, so DP-SGD adds it after the noise."""
        parts = []
        for w, b in zip(self.weights, self.biases, strict=True):
            parts += [(l2 * w).ravel(), np.zeros(b.size)]
        return np.concatenate(parts)


# Named constructors, for readability at call sites.
def LogisticRegression(n_features: int, seed: int = 0) -> Model:  # noqa: N802
    return Model(Architecture("logistic", n_features, 2), seed)


def SoftmaxRegression(n_features: int, n_classes: int, seed: int = 0) -> Model:  # noqa: N802
    return Model(Architecture("softmax", n_features, n_classes), seed)


def MLP(  # noqa: N802
    n_features: int,
    n_classes: int,
    hidden: tuple[int, ...] | list[int],
    activation: str = "relu",
    seed: int = 0,
) -> Model:
    if len(hidden) not in (1, 2):
        raise ValueError("an MLP has 1 or 2 hidden layers")
    if activation not in ("relu", "tanh"):
        raise ValueError("activation is relu or tanh")
    return Model(Architecture("mlp", n_features, n_classes, tuple(hidden), activation), seed)


def model_from_spec(spec: BountySpec, seed: int | None = None) -> Model:
    """A freshly initialised model with the spec's architecture (seed: spec.training.seed)."""
    arch = Architecture.from_model_spec(spec.model)
    return Model(arch, spec.training.seed if seed is None else seed)


# -- model blobs ---------------------------------------------------------------------------


def model_to_bytes(model: Model) -> bytes:
    """The model as .npz bytes: 'params' (float64) and 'header' (UTF-8 JSON as uint8)."""
    header = {
        "format": MODEL_FORMAT,
        "version": MODEL_FORMAT_VERSION,
        "architecture": model.arch.to_json(),
        "n_params": model.n_params,
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    arrays = {
        "header": np.frombuffer(header_bytes, dtype=np.uint8),
        "params": model.get_params(),
    }
    # What np.savez writes, with the zip timestamp pinned explicitly (not left to zipfile's
    # defaults) so equal models always give equal bytes and hashes.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)
    return buffer.getvalue()


def model_from_bytes(
    data: bytes, expected: BountySpec | ModelSpec | None = None, max_bytes: int = MAX_MODEL_BYTES
) -> Model:
    """Parse a model blob; BlobError on anything malformed or not matching `expected`."""
    arrays = read_npz_members(data, ("header", "params"), name="model blob", kind="model file",
                              max_bytes=max_bytes)
    header_arr, params = arrays["header"], arrays["params"]
    if header_arr.dtype != np.uint8 or header_arr.ndim != 1:
        raise BlobError("The model blob's header is malformed.")
    try:
        header = json.loads(header_arr.tobytes().decode("utf-8"))
        if header.get("format") != MODEL_FORMAT:
            raise BlobError("This is not a Quarry model blob.")
        if header.get("version") != MODEL_FORMAT_VERSION:
            raise BlobError(f"The model blob has version {header.get('version')}; expected 1.")
        a = header["architecture"]
        arch = Architecture(
            type=str(a["type"]),
            n_features=int(a["n_features"]),
            n_classes=int(a["n_classes"]),
            hidden=tuple(int(h) for h in a["hidden"]),
            activation=str(a["activation"]),
        )
        if arch.n_features < 1 or arch.n_classes < 2 or any(h < 1 for h in arch.hidden):
            raise BlobError("The model blob's architecture has impossible sizes.")
        if arch.type == "mlp" and len(arch.hidden) not in (1, 2):
            raise BlobError("The model blob's MLP must have 1 or 2 hidden layers.")
        if arch.type != "mlp" and arch.hidden:
            raise BlobError("The model blob's linear model must have no hidden layers.")
        model = Model(arch)
    except BlobError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise BlobError(f"The model blob's header is malformed ({exc}).") from exc
    if params.dtype != np.float64 or params.ndim != 1 or params.size != model.n_params:
        raise BlobError(
            f"The model blob holds {params.size} parameters ({params.dtype}, shape "
            f"{params.shape}); its architecture needs {model.n_params} float64 values."
        )
    if not np.all(np.isfinite(params)):
        raise BlobError("The model blob holds NaN or infinite parameters.")
    model.set_params(params)
    if expected is not None:
        model_spec = expected.model if isinstance(expected, BountySpec) else expected
        if arch != Architecture.from_model_spec(model_spec):
            raise BlobError("The model blob's architecture is not the one the bounty's spec names.")
    return model
