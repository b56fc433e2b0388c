"""`.onnx` models through onnxruntime: safe to load (a graph of known operators, no code).

Two shapes: one input per feature column, typed (what skl2onnx makes from a DataFrame pipeline:
string columns `tensor(string)`, numeric ones `tensor(float)` or `tensor(double)`), or one
float tensor `[None, n]` taking a row of n numbers (feature names then come from the metadata
key `feature_names`, comma-separated, when the exporter wrote it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mlmon.arrays import Floats
from mlmon.errors import ModelLoadError
from mlmon.model.frame import (
    Columns,
    ColumnsError,
    Label,
    Prediction,
    Task,
    class_tuple,
    columns_from_matrix,
    labels,
    n_rows,
    numeric,
    numeric_matrix,
    require,
    strings,
)

_FLOATS = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_INTEGERS = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
_LABEL_TYPES = ("tensor(string)", "tensor(int64)", "tensor(int32)")
# Operators that carry a classifier's labels (ai.onnx.ml); ZipMap carries them too.
_CLASS_ATTRIBUTES = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


@dataclass(frozen=True)
class _Input:
    name: str
    type: str
    rank: int


@dataclass(frozen=True)
class OnnxModel:
    name: str
    version: str
    n_features: int
    feature_names: tuple[str, ...] | None
    task: Task | None
    classes: tuple[Label, ...] | None
    session: Any  # onnxruntime.InferenceSession
    inputs: tuple[_Input, ...]
    per_column: bool  # one input per feature column, or one float tensor

    def predict(self, features: Floats) -> Floats:
        if self.task == "classification" and not _numeric_labels(self.classes):
            msg = f"model {self.name} predicts class labels; they are not numbers"
            raise ColumnsError(msg)
        if self.per_column:
            names = self.feature_names or ()
            prediction = self.predict_columns(columns_from_matrix(features, names))
        else:
            prediction = self._run(self._tensor_feed(np.asarray(features, dtype=np.float64)))
        return np.asarray(prediction.values, dtype=np.float64)

    def predict_columns(self, columns: Columns) -> Prediction:
        if not self.per_column:
            return self._run(self._tensor_feed(numeric_matrix(columns, self.feature_names)))
        require(columns, [i.name for i in self.inputs])
        n_rows(columns)
        return self._run({i.name: _feed(columns, i) for i in self.inputs})

    def _tensor_feed(self, matrix: Floats) -> dict[str, Any]:
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            msg = f"model {self.name} takes {self.n_features} features, got {matrix.shape}"
            raise ColumnsError(msg)
        (tensor,) = self.inputs
        return {tensor.name: matrix.astype(_FLOATS[tensor.type])}

    def _run(self, feeds: dict[str, Any]) -> Prediction:
        outputs = self.session.get_outputs()
        results = self.session.run(None, feeds)
        if self.task != "classification":
            return Prediction(np.asarray(results[0], dtype=np.float64).reshape(-1))
        label_at = next(i for i, o in enumerate(outputs) if o.type in _LABEL_TYPES)
        values = labels(results[label_at])
        scores = None
        for output, result in zip(outputs, results, strict=True):
            if output.type.startswith("seq(map("):
                scores = _from_maps(result, self.classes)
            elif output.type in _FLOATS and output is not outputs[label_at]:
                scores = np.asarray(result, dtype=np.float64).reshape(len(values), -1)
        return Prediction(values, scores)


def load_onnx(path: Path) -> OnnxModel:
    import onnx
    import onnxruntime

    data = path.read_bytes()
    try:
        graph = onnx.load_from_string(data)
        session = onnxruntime.InferenceSession(
            data, _one_thread(onnxruntime), providers=["CPUExecutionProvider"]
        )
    except Exception as error:
        msg = f"model file {path} is not a valid ONNX model: {error}"
        raise ModelLoadError(msg) from None
    inputs = tuple(_Input(i.name, i.type, len(i.shape)) for i in session.get_inputs())
    metadata = {p.key: p.value for p in graph.metadata_props}
    per_column = not (len(inputs) == 1 and inputs[0].type in _FLOATS and inputs[0].rank == 2)
    if per_column:
        odd = [f"{i.name} ({i.type})" for i in inputs if not _column_type(i.type)]
        if odd:
            msg = f"model file {path}: inputs of a type mlmon cannot feed: {', '.join(odd)}"
            raise ModelLoadError(msg)
        names: tuple[str, ...] | None = tuple(i.name for i in inputs)
        width = len(inputs)
    else:
        width = session.get_inputs()[0].shape[1]
        if not isinstance(width, int):
            msg = f"model file {path}: its input {inputs[0].name} has no fixed width ({width})"
            raise ModelLoadError(msg)
        names = _metadata_names(metadata.get("feature_names"), width, path)
    classes = _classes(graph)
    output_types = [o.type for o in session.get_outputs()]
    task: Task | None = None
    if classes is not None or any(t.startswith("seq(map(") for t in output_types):
        task = "classification"
    elif graph.producer_name == "skl2onnx" and len(output_types) == 1:
        task = "regression"  # skl2onnx writes one output for a regressor
    version = hashlib.sha256(data).hexdigest()[:12]
    return OnnxModel(path.stem, version, width, names, task, classes, session, inputs, per_column)


def _one_thread(onnxruntime: Any) -> Any:
    """Session options for one thread: a model service scales by processes (--model-workers),
    and onnxruntime's own pool, spinning while it waits, took CPU the other services needed
    (docs/performance-history.md)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _column_type(onnx_type: str) -> bool:
    return onnx_type in _FLOATS or onnx_type in _INTEGERS or onnx_type == "tensor(string)"


def _feed(columns: Columns, tensor: _Input) -> npt.NDArray[Any]:
    if tensor.type == "tensor(string)":
        column: npt.NDArray[Any] = strings(columns, tensor.name)
    elif tensor.type in _FLOATS:
        column = numeric(columns, tensor.name).astype(_FLOATS[tensor.type])
    else:
        values = numeric(columns, tensor.name)
        if np.isnan(values).any():
            msg = f"feature {tensor.name!r} has missing values; the model takes whole numbers"
            raise ColumnsError(msg)
        column = values.astype(_INTEGERS[tensor.type])
    return column.reshape(-1, 1) if tensor.rank == 2 else column


def _metadata_names(text: str | None, width: int, path: Path) -> tuple[str, ...] | None:
    if not text:
        return None
    names = tuple(name.strip() for name in text.split(","))
    if len(names) != width:
        msg = f"model file {path}: metadata names {len(names)} features, its input takes {width}"
        raise ModelLoadError(msg)
    return names


def _classes(graph: Any) -> tuple[Label, ...] | None:
    import onnx

    for node in graph.graph.node:
        for attribute in node.attribute:
            if attribute.name in _CLASS_ATTRIBUTES:
                values = onnx.helper.get_attribute_value(attribute)
                return class_tuple([v.decode() if isinstance(v, bytes) else v for v in values])
    return None


def _from_maps(maps: list[dict[Any, float]], classes: tuple[Label, ...] | None) -> Floats:
    """skl2onnx's ZipMap output (one {class: probability} per row) as a rows x classes array."""
    order = list(classes) if classes is not None else list(maps[0]) if maps else []
    return np.array([[row[c] for c in order] for row in maps], dtype=np.float64).reshape(
        len(maps), len(order)
    )


def _numeric_labels(classes: tuple[Label, ...] | None) -> bool:
    return classes is not None and all(isinstance(c, int | float) for c in classes)
