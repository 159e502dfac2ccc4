#!/usr/bin/env python3
"""A TensorFlow Serving gRPC client, independent of the server's Java code.

Generates Python stubs from the server's .proto files (diffusion-export/src/main/proto) with
grpcio-tools, then calls the server the way TensorFlow Serving's own Python clients do
(tensorflow_serving.apis.predict_pb2 / prediction_service_pb2_grpc): GetModelStatus,
GetModelMetadata, Predict, and Predict on a model that does not exist. Prints one JSON object.

Needs: pip install grpcio grpcio-tools
"""
import argparse
import base64
import json
import os
import sys
import tempfile

import grpc
import grpc_tools
from grpc_tools import protoc


def generate(proto_dir, out_dir):
    """Python modules for every .proto under proto_dir, in out_dir."""
    files = []
    for root, _, names in os.walk(proto_dir):
        files += [os.path.relpath(os.path.join(root, n), proto_dir) for n in names if n.endswith(".proto")]
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["grpc_tools.protoc", "-I" + proto_dir, "-I" + well_known,
            "--python_out=" + out_dir, "--grpc_python_out=" + out_dir] + sorted(files)
    if protoc.main(args) != 0:
        sys.exit("protoc failed on " + proto_dir)
    sys.path.insert(0, out_dir)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", default="127.0.0.1:8500")
    p.add_argument("--model", required=True)
    p.add_argument("--proto-dir", required=True)
    p.add_argument("--seeds", default="3,11")
    p.add_argument("--labels", default="1,8")
    p.add_argument("--guidance", default="3,1")
    a = p.parse_args()

    generate(a.proto_dir, tempfile.mkdtemp(prefix="tfserving-stubs-"))
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                         model_service_pb2_grpc, predict_pb2,
                                         prediction_service_pb2_grpc)

    def tensor(dtype, values, field):
        t = tensor_pb2.TensorProto(dtype=dtype)
        t.tensor_shape.dim.add(size=len(values))
        getattr(t, field).extend(values)
        return t

    seeds = [int(s) for s in a.seeds.split(",")]
    labels = [int(s) for s in a.labels.split(",")]
    guidance = [float(s) for s in a.guidance.split(",")]

    channel = grpc.insecure_channel(a.target)
    grpc.channel_ready_future(channel).result(timeout=60)
    predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    out = {}

    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = a.model
    s = models.GetModelStatus(status, timeout=60)
    out["status"] = [{"version": v.version,
                      "state": get_model_status_pb2.ModelVersionStatus.State.Name(v.state),
                      "error_code": v.status.error_code} for v in s.model_version_status]

    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = a.model
    meta.metadata_field.append("signature_def")
    m = predictions.GetModelMetadata(meta, timeout=60)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    m.metadata["signature_def"].Unpack(signatures)
    out["signatures"] = sorted(signatures.signature_def.keys())
    out["seed_dtype"] = types_pb2.DataType.Name(
        signatures.signature_def["serving_default"].inputs["seed"].dtype)

    request = predict_pb2.PredictRequest()
    request.model_spec.name = a.model
    request.model_spec.signature_name = "serving_default"
    request.inputs["seed"].CopyFrom(tensor(types_pb2.DT_INT64, seeds, "int64_val"))
    request.inputs["class_label"].CopyFrom(tensor(types_pb2.DT_INT32, labels, "int_val"))
    request.inputs["guidance_scale"].CopyFrom(tensor(types_pb2.DT_FLOAT, guidance, "float_val"))
    r = predictions.Predict(request, timeout=300)
    images = r.outputs["images"]
    out["model_spec"] = {"name": r.model_spec.name, "version": r.model_spec.version.value,
                         "signature_name": r.model_spec.signature_name}
    out["images_shape"] = [d.size for d in images.tensor_shape.dim]
    out["images"] = list(images.float_val)
    out["png_b64"] = [base64.b64encode(b).decode("ascii")
                      for b in r.outputs["images_png_bytes"].string_val]

    missing = predict_pb2.PredictRequest()
    missing.model_spec.name = "no-such-model"
    try:
        predictions.Predict(missing, timeout=60)
        out["unknown_model"] = {"code": "OK"}
    except grpc.RpcError as e:
        out["unknown_model"] = {"code": e.code().name, "details": e.details()}

    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
