// tfdiffusion's native convolution ops: oneDNN's convolution kernels as TensorFlow custom ops,
// registered through the C kernel API that TensorFlow Java's libtensorflow_framework.so.2 exports
// (TensorFlow 2.18's tensorflow/c/kernels.h and ops.h are the reference for the declarations
// below; the headers are not shipped).
//
//   TfdConv2D(input [B,H,W,CI], filter [K,K,CI,CO], bias [CO]) -> output [B,H,W,CO]
//     Conv2D(input, filter, strides 1, "SAME") + bias: odd K, NHWC / HWIO, float32.
//     Attribute bf16 (default false): input and filter rounded to bfloat16 for oneDNN's bfloat16
//     kernels (AMX / AVX512_BF16 where the CPU has them), float32 accumulation and output; for
//     inference (the gradient op is float32).
//     Attribute keep_filter (default false): the filter is a model's weight, the same tensor every
//     time the op runs within one Session.run (a sampling loop's steps): the kernel keeps the
//     filter reordered for oneDNN and reorders it again only in a new run, at a new address, or
//     where a probe of its values changed. Kept copies are freed by the next op call without it
//     (a training step), so that only sampling sessions hold them.
//     Attribute winograd (default true; on the gradient op too): float32 3x3 convolutions at
//     stride 1 run oneDNN's Winograd F(4x4, 3x3) kernels where it has them for the shape (AVX-512)
//     and their memory stays within a budget (below; TFDIFFUSION_WINOGRAD=auto|all|off). Their
//     rounding differs from a direct dot product's by about 1e-5 of the output's scale. A kept
//     filter goes to them from its second call in a run: a lone call (a forward pass) would pay
//     the filter's transform for one use.
//   TfdConv2DStride2(input, filter, bias) -> output [B,ceil(H/2),ceil(W/2),CO]
//     stride 2 with PyTorch's padding (K - 1) / 2 on every side.
//   TfdConv2DBackprop / TfdConv2DStride2Backprop(input, filter, out_backprop)
//     -> (input_backprop, filter_backprop, bias_backprop): all three gradients of the forward op.
//
// The forward op lets oneDNN pick its layouts (on this CPU its brgemm kernel takes NHWC as it is)
// and reorders to and from them where they differ; the direct backward kernels run on NHWC
// activations (as fast as on oneDNN's blocked layouts, measured), so there only the filter and its
// gradient are reordered; Winograd's take the blocked layout, reordered to and from. Reorders go
// through scratch buffers that every kernel shares; calls are serialised (one oneDNN convolution
// uses every core); primitives are cached per shape.
//
// Built by diffusion-core/src/main/native/build.sh; loaded by org.tfdiffusion.nn.NativeConv.
#include <dnnl.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

extern "C" {
typedef struct TF_Status TF_Status;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_OpDefinitionBuilder TF_OpDefinitionBuilder;
typedef struct TF_ShapeInferenceContext TF_ShapeInferenceContext;
typedef struct TF_ShapeHandle TF_ShapeHandle;
typedef struct TF_DimensionHandle TF_DimensionHandle;
typedef struct TF_KernelBuilder TF_KernelBuilder;
typedef struct TF_OpKernelConstruction TF_OpKernelConstruction;
typedef struct TF_OpKernelContext TF_OpKernelContext;
TF_Status* TF_NewStatus(void);
void TF_DeleteStatus(TF_Status*);
int TF_GetCode(const TF_Status*);
void TF_SetStatus(TF_Status*, int code, const char* msg);
TF_OpDefinitionBuilder* TF_NewOpDefinitionBuilder(const char* op_name);
void TF_OpDefinitionBuilderAddInput(TF_OpDefinitionBuilder*, const char*);
void TF_OpDefinitionBuilderAddOutput(TF_OpDefinitionBuilder*, const char*);
void TF_OpDefinitionBuilderAddAttr(TF_OpDefinitionBuilder*, const char*);
void TF_OpKernelConstruction_GetAttrBool(
    TF_OpKernelConstruction*, const char*, unsigned char*, TF_Status*);
void TF_OpDefinitionBuilderSetShapeInferenceFunction(
    TF_OpDefinitionBuilder*, void (*)(TF_ShapeInferenceContext*, TF_Status*));
void TF_RegisterOpDefinition(TF_OpDefinitionBuilder*, TF_Status*);
TF_ShapeHandle* TF_NewShapeHandle(void);
void TF_DeleteShapeHandle(TF_ShapeHandle*);
void TF_ShapeInferenceContextGetInput(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextSubshape(
    TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t, int64_t, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextConcatenateShapes(
    TF_ShapeInferenceContext*, TF_ShapeHandle*, TF_ShapeHandle*, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextSetOutput(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
TF_ShapeHandle* TF_ShapeInferenceContextVectorFromSize(TF_ShapeInferenceContext*, size_t);
void TF_ShapeInferenceContextWithRank(
    TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t, TF_ShapeHandle*, TF_Status*);
TF_DimensionHandle* TF_NewDimensionHandle(void);
void TF_DeleteDimensionHandle(TF_DimensionHandle*);
void TF_ShapeInferenceContextDim(TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t, TF_DimensionHandle*);
int TF_DimensionHandleValueKnown(TF_DimensionHandle*);
int64_t TF_DimensionHandleValue(TF_DimensionHandle*);
TF_KernelBuilder* TF_NewKernelBuilder(const char*, const char*,
    void* (*)(TF_OpKernelConstruction*), void (*)(void*, TF_OpKernelContext*), void (*)(void*));
void TF_RegisterKernelBuilder(const char*, TF_KernelBuilder*, TF_Status*);
int TF_NumInputs(TF_OpKernelContext*);
void TF_GetInput(TF_OpKernelContext*, int, TF_Tensor**, TF_Status*);
TF_Tensor* TF_AllocateOutput(
    TF_OpKernelContext*, int, int dtype, const int64_t* dims, int num_dims, size_t len, TF_Status*);
void* TF_TensorData(const TF_Tensor*);
int TF_NumDims(const TF_Tensor*);
int64_t TF_Dim(const TF_Tensor*, int);
int64_t TF_StepId(TF_OpKernelContext*);
void TF_DeleteTensor(TF_Tensor*);
void TF_OpKernelContext_Failure(TF_OpKernelContext*, TF_Status*);
}

namespace {
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
constexpr int kFloat = 1;       // TF_FLOAT
constexpr int kInvalidArg = 3;  // TF_INVALID_ARGUMENT
constexpr int kInternal = 13;   // TF_INTERNAL

engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}

std::mutex& global_mutex() {
  static std::mutex mu;
  return mu;
}

// Scratch buffers shared by every kernel; slot i grows to the largest size asked of it. The last
// is oneDNN's own scratchpad (user mode: one buffer for every primitive, not one per primitive).
constexpr int kScratchpad = 6;
void* scratch(int slot, size_t bytes) {
  static std::vector<std::pair<void*, size_t>> slots(kScratchpad + 1, {nullptr, 0});
  auto& s = slots[slot];
  if (s.second < bytes) {
    std::free(s.first);
    s.first = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    s.second = s.first ? bytes : 0;
    if (!s.first) throw std::bad_alloc();
  }
  return s.first;
}

// Primitives take oneDNN's scratchpad from the caller: one scratch slot for all of them.
primitive_attr user_scratchpad() {
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  return attr;
}

memory scratchpad(const memory::desc& d) {
  return memory(d, eng(), scratch(kScratchpad, d.get_size()));
}

// One operand: the caller's NHWC/HWIO buffer and, where the kernel wants another layout, a
// reorder into (or out of) a scratch slot.
struct Operand {
  memory::desc user, inner;
  bool reordered = false;
  reorder to_inner, to_user;
  void init(const memory::desc& user_md, const memory::desc& inner_md, bool input) {
    user = user_md;
    inner = inner_md;
    reordered = inner != user;
    if (reordered) {
      if (input) {
        to_inner = reorder(reorder::primitive_desc(eng(), user, eng(), inner));
      } else {
        to_user = reorder(reorder::primitive_desc(eng(), inner, eng(), user));
      }
    }
  }
  memory bind(void* user_data, int slot, memory& user_mem) const {
    user_mem = memory(user, eng(), user_data);
    if (!reordered) return user_mem;
    return memory(inner, eng(), scratch(slot, inner.get_size()));
  }
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    bool, int>;

// Where Winograd's kernels run (TFDIFFUSION_WINOGRAD): "auto" (the default) within the memory
// budgets below, "all" wherever oneDNN has them, "off" nowhere.
enum class WinogradMode { kAuto, kAll, kOff };
WinogradMode winograd_mode() {
  static WinogradMode mode = [] {
    const char* v = std::getenv("TFDIFFUSION_WINOGRAD");
    std::string s = v ? v : "auto";
    return s == "all" ? WinogradMode::kAll
                      : s == "off" || s == "0" ? WinogradMode::kOff : WinogradMode::kAuto;
  }();
  return mode;
}

// A 3x3 filter transformed for Winograd's F(4x4, 3x3) takes 36 / 9 = 4 times its size, and its
// kernels a scratchpad for the transformed tiles; both grow with the channels, not the batch, so
// the deepest layers (4x4 pixels, 1024 channels: 151 MB a filter) pay most for their speed.
// Budgets, as multiples of the layer's input and output activations (16 MiB at least: oneDNN's
// one shared scratchpad, user mode below):
//   kTraining: the scratchpads and the transformed filter, reordered at every step: 1x, which
//     kept the tutorial model's training peak where the direct kernels have it;
//   kKept: a kept filter (a sampling loop's), held as long as the session samples: 10x, the
//     tutorial model's 32x32 and 16x16 levels at batch 16 (its 16 images 22-24 s -> 17-19 s for
//     0.45 GiB more; every level: 16-18 s for 1.6 GiB more).
constexpr int kDirect = 0, kTraining = 1, kKept = 2;

// Output size of a stride-S convolution with PyTorch's padding (K - 1) / 2 and odd K.
int64_t out_size(int64_t in, int64_t stride) { return in == 0 ? 0 : (in - 1) / stride + 1; }

struct Geometry {
  int64_t B, H, W, CI, CO, KH, KW, S;
  bool bf16;  // forward inference with bfloat16 input and filter (float32 accumulation and output)
  int wino;  // Winograd's kernels asked for (kTraining or kKept budget: float32, 3x3, stride 1)
  int64_t OH() const { return out_size(H, S); }
  int64_t OW() const { return out_size(W, S); }
  Key key() const { return {B, H, W, CI, CO, KH, KW, S, bf16, wino}; }
  // Winograd's memory (its scratchpads, its transformed filter) within the budget
  bool affordable(std::initializer_list<memory::desc> extra) const {
    if (winograd_mode() == WinogradMode::kAll) return true;
    double ratio = wino == kKept ? 10 : 1;
    size_t most = 0;
    for (auto& d : extra) most = std::max(most, d.get_size());
    double activations = 4.0 * B * (H * W * CI + OH() * OW() * CO);
    return most <= std::max(16.0 * (1 << 20), ratio * activations);
  }
  memory::dims src() const { return {B, CI, H, W}; }
  memory::dims wei() const { return {CO, CI, KH, KW}; }
  memory::dims dst() const { return {B, CO, OH(), OW()}; }
  memory::dims strides() const { return {S, S}; }
  memory::dims pad_l() const { return {(KH - 1) / 2, (KW - 1) / 2}; }
  // the right padding that gives oneDNN's floor((H + l + r - K) / S) + 1 the same output size
  memory::dims pad_r() const {
    return {(OH() - 1) * S + KH - H - (KH - 1) / 2, (OW() - 1) * S + KW - W - (KW - 1) / 2};
  }
  memory::desc user_src() const { return {src(), dt::f32, tag::nhwc}; }
  memory::desc user_wei() const { return {wei(), dt::f32, tag::hwio}; }
  memory::desc user_dst() const { return {dst(), dt::f32, tag::nhwc}; }
  memory::desc bias() const { return {{CO}, dt::f32, tag::x}; }
  memory::desc any(const memory::dims& d) const { return {d, dt::f32, tag::any}; }
  memory::desc any(const memory::dims& d, dt type) const { return {d, type, tag::any}; }
  convolution_forward::primitive_desc forward(prop_kind kind) const {
    if (kind == prop_kind::forward_inference && bf16) {
      return convolution_forward::primitive_desc(
          {kind, algorithm::convolution_direct, any(src(), dt::bf16), any(wei(), dt::bf16), bias(),
              any(dst()), strides(), pad_l(), pad_r()},
          user_scratchpad(), eng());
    }
    if (wino) {
      try {
        auto pd = convolution_forward::primitive_desc(
            {kind, algorithm::convolution_winograd, any(src()), any(wei()), bias(), any(dst()),
                strides(), pad_l(), pad_r()},
            user_scratchpad(), eng());
        if (affordable({pd.scratchpad_desc(), pd.weights_desc()})) return pd;
      } catch (const dnnl::error&) {
        // no Winograd kernel for this shape or CPU (oneDNN has them on AVX-512)
      }
    }
    return convolution_forward::primitive_desc(
        {kind, algorithm::convolution_direct, any(src()), any(wei()), bias(), any(dst()),
            strides(), pad_l(), pad_r()},
        user_scratchpad(), eng());
  }
};

struct Forward {
  convolution_forward conv;
  Operand src, wei, dst;
  memory::desc pad;
  explicit Forward(const Geometry& g) {
    auto pd = g.forward(prop_kind::forward_inference);
    conv = convolution_forward(pd);
    pad = pd.scratchpad_desc();
    src.init(g.user_src(), pd.src_desc(), true);
    wei.init(g.user_wei(), pd.weights_desc(), true);
    dst.init(g.user_dst(), pd.dst_desc(), false);
  }
};

// The direct backward kernels take the activations in the caller's NHWC layout (oneDNN's run on
// it as fast as on its blocked layouts, measured), so only the filter and its gradient are
// reordered. Winograd's take them in its blocked layout: the input, the output gradient and the
// input gradient are reordered too (for the direct kernels these operands are not reordered).
struct Backward {
  convolution_backward_data data;
  convolution_backward_weights weights;
  memory::desc data_pad, weights_pad;
  Operand wei, d_wei, src, d_dst_data, d_dst_weights, d_src;
  explicit Backward(const Geometry& g) {
    auto hint = g.forward(prop_kind::forward_training);
    if (g.wino) {
      try {
        convolution_backward_data::primitive_desc data_pd(
            {algorithm::convolution_winograd, g.any(g.src()), g.any(g.wei()), g.any(g.dst()),
                g.strides(), g.pad_l(), g.pad_r()},
            user_scratchpad(), eng(), hint);
        convolution_backward_weights::primitive_desc weights_pd(
            {algorithm::convolution_winograd, g.any(g.src()), g.any(g.wei()), g.bias(),
                g.any(g.dst()), g.strides(), g.pad_l(), g.pad_r()},
            user_scratchpad(), eng(), hint);
        if (g.affordable({data_pd.scratchpad_desc(), weights_pd.scratchpad_desc()})) {
          init(g, data_pd, weights_pd);
          return;
        }
      } catch (const dnnl::error&) {
        // no Winograd kernel for this shape: the direct ones below
      }
    }
    init(g,
        {{algorithm::convolution_direct, g.user_src(), g.any(g.wei()), g.user_dst(), g.strides(),
             g.pad_l(), g.pad_r()},
            user_scratchpad(), eng(), hint},
        {{algorithm::convolution_direct, g.user_src(), g.any(g.wei()), g.bias(), g.user_dst(),
             g.strides(), g.pad_l(), g.pad_r()},
            user_scratchpad(), eng(), hint});
  }
  void init(const Geometry& g, const convolution_backward_data::primitive_desc& data_pd,
      const convolution_backward_weights::primitive_desc& weights_pd) {
    data = convolution_backward_data(data_pd);
    weights = convolution_backward_weights(weights_pd);
    data_pad = data_pd.scratchpad_desc();
    weights_pad = weights_pd.scratchpad_desc();
    wei.init(g.user_wei(), data_pd.weights_desc(), true);
    d_wei.init(g.user_wei(), weights_pd.diff_weights_desc(), false);
    src.init(g.user_src(), weights_pd.src_desc(), true);
    d_dst_data.init(g.user_dst(), data_pd.diff_dst_desc(), true);
    d_dst_weights.init(g.user_dst(), weights_pd.diff_dst_desc(), true);
    d_src.init(g.user_src(), data_pd.diff_src_desc(), false);
  }
};

std::map<Key, std::unique_ptr<Forward>>& forward_cache() {
  static std::map<Key, std::unique_ptr<Forward>> cache;
  return cache;
}
std::map<Key, std::unique_ptr<Backward>>& backward_cache() {
  static std::map<Key, std::unique_ptr<Backward>> cache;
  return cache;
}

// Reads the inputs, checks them, and fills in the geometry; false (with ctx failed) on bad input.
bool read_inputs(TF_OpKernelContext* ctx, int64_t stride, bool bf16, bool wino, bool backward,
    TF_Status* st, std::vector<TF_Tensor*>& in, Geometry& g) {
  for (int i = 0; i < TF_NumInputs(ctx); i++) {
    TF_Tensor* t = nullptr;
    TF_GetInput(ctx, i, &t, st);
    if (TF_GetCode(st) != 0) return false;
    in.push_back(t);
  }
  std::string err;
  if (TF_NumDims(in[0]) != 4) err = "input must be [batch, height, width, channels]";
  if (err.empty() && TF_NumDims(in[1]) != 4) err = "filter must be [height, width, in, out]";
  if (err.empty()) {
    g = {TF_Dim(in[0], 0), TF_Dim(in[0], 1), TF_Dim(in[0], 2), TF_Dim(in[0], 3), TF_Dim(in[1], 3),
        TF_Dim(in[1], 0), TF_Dim(in[1], 1), stride, bf16, kDirect};
    bool possible = !bf16 && stride == 1 && g.KH == 3 && g.KW == 3;
    g.wino = wino && possible && winograd_mode() != WinogradMode::kOff ? kTraining : kDirect;
    if (TF_Dim(in[1], 2) != g.CI) err = "the filter's input channels differ from the input's";
    else if (g.KH % 2 == 0 || g.KW % 2 == 0) err = "the filter's height and width must be odd";
  }
  if (err.empty() && !backward && (TF_NumDims(in[2]) != 1 || TF_Dim(in[2], 0) != g.CO)) {
    err = "bias must be [filter's out channels]";
  }
  if (err.empty() && backward) {
    if (TF_NumDims(in[2]) != 4 || TF_Dim(in[2], 0) != g.B || TF_Dim(in[2], 1) != g.OH() ||
        TF_Dim(in[2], 2) != g.OW() || TF_Dim(in[2], 3) != g.CO) {
      err = "out_backprop must be the output's shape: [batch, out height, out width, filter's out channels]";
    }
  }
  if (!err.empty()) {
    TF_SetStatus(st, kInvalidArg, err.c_str());
    return false;
  }
  return true;
}

TF_Tensor* output(TF_OpKernelContext* ctx, int index, std::vector<int64_t> dims, TF_Status* st) {
  size_t n = sizeof(float);
  for (int64_t d : dims) n *= d;
  return TF_AllocateOutput(ctx, index, kFloat, dims.data(), (int)dims.size(), n, st);
}

void finish(TF_OpKernelContext* ctx, TF_Status* st, std::vector<TF_Tensor*>& tensors) {
  if (TF_GetCode(st) != 0) TF_OpKernelContext_Failure(ctx, st);
  for (TF_Tensor* t : tensors) TF_DeleteTensor(t);
  TF_DeleteStatus(st);
}

// A kernel's state: its stride and attributes, and the filter it keeps reordered (keep_filter).
struct Kernel {
  int64_t stride = 1;
  bool bf16 = false, keep = false, wino = true;
  // the kept filter: the run and address it came from, its geometry and a probe of its values
  int64_t step = 0;
  const void* filter = nullptr;
  // the run and filter of the last call (a kept filter goes to Winograd's kernel on its second)
  int64_t seen_step = -1;
  const void* seen_filter = nullptr;
  Key key{};
  float probe[8] = {};
  void* data = nullptr;
  size_t size = 0;
  void release() {
    std::free(data);
    data = nullptr;
    size = 0;
    filter = nullptr;
  }
};

std::vector<Kernel*>& keepers() {
  static std::vector<Kernel*> kernels;
  return kernels;
}

// Frees every kept filter: called by the ops that do not keep theirs (training's forward and
// backward passes), so that a training session's sample grids leave no copies behind.
void release_kept() {
  for (Kernel* k : keepers()) k->release();
  keepers().clear();
}

// Eight of the filter's values, first to last.
void probe_of(const float* f, int64_t n, float* out) {
  for (int i = 0; i < 8; i++) out[i] = f[(n - 1) * i / 7];
}

// The filter in the kernel's kept copy, reordered again unless it came from this run, this
// address, this geometry and the same probed values.
memory kept_filter(Kernel* k, const Forward& p, const Geometry& g, void* f, int64_t step,
    stream& s) {
  float probe[8];
  probe_of(static_cast<const float*>(f), g.KH * g.KW * g.CI * g.CO, probe);
  bool hit = k->data && k->step == step && k->filter == f && k->key == g.key() &&
             std::memcmp(probe, k->probe, sizeof probe) == 0;
  if (hit) return memory(p.wei.inner, eng(), k->data);
  size_t size = p.wei.inner.get_size();
  if (k->size < size) {
    k->release();
    k->data = std::aligned_alloc(64, (size + 63) / 64 * 64);
    if (!k->data) throw std::bad_alloc();
    k->size = size;
  }
  if (std::find(keepers().begin(), keepers().end(), k) == keepers().end()) keepers().push_back(k);
  memory wei(p.wei.inner, eng(), k->data), uf(p.wei.user, eng(), f);
  p.wei.to_inner.execute(s, uf, wei);
  k->step = step;
  k->filter = f;
  k->key = g.key();
  std::memcpy(k->probe, probe, sizeof probe);
  return wei;
}

void run_forward(Geometry g, void* x, void* f, void* b, void* y, Kernel* k, int64_t step) {
  if (g.wino && k->keep) {
    // Winograd's filter transform costs more than the direct kernel's reorder: a kept filter
    // takes it from its second call in a run (a sampling loop's steps) on; a lone call (a
    // forward pass) runs the direct kernel.
    bool again = k->seen_step == step && k->seen_filter == f;
    k->seen_step = step;
    k->seen_filter = f;
    g.wino = again ? kKept : kDirect;
  }
  auto& p = forward_cache()[g.key()];
  if (!p) p.reset(new Forward(g));
  stream s(eng());
  if (!k->keep) release_kept();
  memory ux, uf, uy;
  memory src = p->src.bind(x, 0, ux), dst = p->dst.bind(y, 2, uy);
  memory wei;
  if (p->wei.reordered && k->keep) {
    wei = kept_filter(k, *p, g, f, step, s);
  } else {
    wei = p->wei.bind(f, 1, uf);
    if (p->wei.reordered) p->wei.to_inner.execute(s, uf, wei);
  }
  if (p->src.reordered) p->src.to_inner.execute(s, ux, src);
  memory bias(g.bias(), eng(), b);
  p->conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, bias},
                         {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratchpad(p->pad)}});
  if (p->dst.reordered) p->dst.to_user.execute(s, dst, uy);
  s.wait();
}

void run_backward(const Geometry& g, void* x, void* f, void* dy, void* dx, void* df, void* db) {
  release_kept();
  auto& p = backward_cache()[g.key()];
  if (!p) p.reset(new Backward(g));
  stream s(eng());
  memory d_bias(g.bias(), eng(), db);
  memory uf, u_df;
  memory wei = p->wei.bind(f, 0, uf), d_wei = p->d_wei.bind(df, 1, u_df);
  if (p->wei.reordered) p->wei.to_inner.execute(s, uf, wei);
  memory ux, udy, udy_w, udx;
  memory src = p->src.bind(x, 2, ux), d_dst = p->d_dst_data.bind(dy, 3, udy);
  memory d_src = p->d_src.bind(dx, 4, udx), d_dst_w = d_dst;
  if (p->src.reordered) p->src.to_inner.execute(s, ux, src);
  if (p->d_dst_data.reordered) p->d_dst_data.to_inner.execute(s, udy, d_dst);
  if (p->d_dst_weights.inner != p->d_dst_data.inner) {
    d_dst_w = p->d_dst_weights.bind(dy, 5, udy_w);
    if (p->d_dst_weights.reordered) p->d_dst_weights.to_inner.execute(s, udy_w, d_dst_w);
  }
  // input gradient: dx = conv_bwd_data(dy, f)
  p->data.execute(s, {{DNNL_ARG_DIFF_DST, d_dst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, d_src},
      {DNNL_ARG_SCRATCHPAD, scratchpad(p->data_pad)}});
  if (p->d_src.reordered) p->d_src.to_user.execute(s, d_src, udx);
  // filter and bias gradients: df = conv_bwd_weights(x, dy), db = sum of dy
  p->weights.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, d_dst_w},
      {DNNL_ARG_DIFF_WEIGHTS, d_wei}, {DNNL_ARG_DIFF_BIAS, d_bias},
      {DNNL_ARG_SCRATCHPAD, scratchpad(p->weights_pad)}});
  if (p->d_wei.reordered) p->d_wei.to_user.execute(s, d_wei, u_df);
  s.wait();
}

int64_t stride_of(void* kernel) { return static_cast<Kernel*>(kernel)->stride; }
bool bf16_of(void* kernel) { return static_cast<Kernel*>(kernel)->bf16; }
bool wino_of(void* kernel) { return static_cast<Kernel*>(kernel)->wino; }

void compute_forward(void* kernel, TF_OpKernelContext* ctx) {
  TF_Status* st = TF_NewStatus();
  std::vector<TF_Tensor*> in;
  Geometry g{};
  if (read_inputs(ctx, stride_of(kernel), bf16_of(kernel), wino_of(kernel), false, st, in, g)) {
    TF_Tensor* y = output(ctx, 0, {g.B, g.OH(), g.OW(), g.CO}, st);
    if (y) in.push_back(y);
    if (TF_GetCode(st) == 0 && g.B * g.OH() * g.OW() * g.CO > 0) {
      try {
        std::lock_guard<std::mutex> lock(global_mutex());
        run_forward(g, TF_TensorData(in[0]), TF_TensorData(in[1]), TF_TensorData(in[2]),
            TF_TensorData(y), static_cast<Kernel*>(kernel), TF_StepId(ctx));
      } catch (const std::exception& e) {
        TF_SetStatus(st, kInternal, (std::string("oneDNN convolution failed: ") + e.what()).c_str());
      }
    }
  }
  finish(ctx, st, in);
}

void compute_backward(void* kernel, TF_OpKernelContext* ctx) {
  TF_Status* st = TF_NewStatus();
  std::vector<TF_Tensor*> in;
  Geometry g{};
  if (read_inputs(ctx, stride_of(kernel), false, wino_of(kernel), true, st, in, g)) {
    TF_Tensor* dx = output(ctx, 0, {g.B, g.H, g.W, g.CI}, st);
    if (dx) in.push_back(dx);
    TF_Tensor* df = TF_GetCode(st) == 0 ? output(ctx, 1, {g.KH, g.KW, g.CI, g.CO}, st) : nullptr;
    if (df) in.push_back(df);
    TF_Tensor* db = TF_GetCode(st) == 0 ? output(ctx, 2, {g.CO}, st) : nullptr;
    if (db) in.push_back(db);
    if (TF_GetCode(st) == 0) {
      try {
        if (g.B * g.H * g.W * g.CI * g.CO == 0) {
          std::memset(TF_TensorData(dx), 0, sizeof(float) * g.B * g.H * g.W * g.CI);
          std::memset(TF_TensorData(df), 0, sizeof(float) * g.KH * g.KW * g.CI * g.CO);
          std::memset(TF_TensorData(db), 0, sizeof(float) * g.CO);
        } else {
          std::lock_guard<std::mutex> lock(global_mutex());
          run_backward(g, TF_TensorData(in[0]), TF_TensorData(in[1]), TF_TensorData(in[2]),
              TF_TensorData(dx), TF_TensorData(df), TF_TensorData(db));
        }
      } catch (const std::exception& e) {
        TF_SetStatus(st, kInternal, (std::string("oneDNN convolution failed: ") + e.what()).c_str());
      }
    }
  }
  finish(ctx, st, in);
}

// The kernel's stride comes from its op type (the shape functions cannot read attrs); the forward
// ops' bf16 and keep_filter and every op's winograd from their attributes.
bool bool_attr(TF_OpKernelConstruction* ctx, const char* name, bool otherwise = false) {
  TF_Status* st = TF_NewStatus();
  unsigned char value = 0;
  TF_OpKernelConstruction_GetAttrBool(ctx, name, &value, st);
  bool ok = TF_GetCode(st) == 0;
  TF_DeleteStatus(st);
  return ok ? value != 0 : otherwise;
}
Kernel* kernel_of(TF_OpKernelConstruction* c, int64_t stride) {
  Kernel* k = new Kernel();
  k->stride = stride;
  k->wino = bool_attr(c, "winograd", true);
  return k;
}
Kernel* forward_kernel(TF_OpKernelConstruction* c, int64_t stride) {
  Kernel* k = kernel_of(c, stride);
  k->bf16 = bool_attr(c, "bf16");
  k->keep = bool_attr(c, "keep_filter");
  return k;
}
void* create_stride1(TF_OpKernelConstruction* c) { return kernel_of(c, 1); }
void* create_stride2(TF_OpKernelConstruction* c) { return kernel_of(c, 2); }
void* create_forward1(TF_OpKernelConstruction* c) { return forward_kernel(c, 1); }
void* create_forward2(TF_OpKernelConstruction* c) { return forward_kernel(c, 2); }
void destroy(void* kernel) {
  Kernel* k = static_cast<Kernel*>(kernel);
  std::lock_guard<std::mutex> lock(global_mutex());
  auto& all = keepers();
  all.erase(std::remove(all.begin(), all.end(), k), all.end());
  k->release();
  delete k;
}

// output = [input's batch, ceil(height / S), ceil(width / S), filter's out channels]
void forward_shape(TF_ShapeInferenceContext* ctx, TF_Status* st, int64_t stride) {
  TF_ShapeHandle *x = TF_NewShapeHandle(), *f = TF_NewShapeHandle(), *x4 = TF_NewShapeHandle(),
                 *f4 = TF_NewShapeHandle(), *batch = TF_NewShapeHandle(),
                 *out_c = TF_NewShapeHandle(), *a = TF_NewShapeHandle(), *b = TF_NewShapeHandle(),
                 *o = TF_NewShapeHandle();
  TF_ShapeHandle *h = nullptr, *w = nullptr;
  TF_ShapeInferenceContextGetInput(ctx, 0, x, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextGetInput(ctx, 1, f, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextWithRank(ctx, x, 4, x4, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextWithRank(ctx, f, 4, f4, st);
  if (TF_GetCode(st) == 0) {
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
      TF_DimensionHandle* d = TF_NewDimensionHandle();
      TF_ShapeInferenceContextDim(ctx, x4, 1 + i, d);
      size[i] = TF_DimensionHandleValueKnown(d) ? out_size(TF_DimensionHandleValue(d), stride) : -1;
      TF_DeleteDimensionHandle(d);
    }
    h = TF_ShapeInferenceContextVectorFromSize(ctx, static_cast<size_t>(size[0]));
    w = TF_ShapeInferenceContextVectorFromSize(ctx, static_cast<size_t>(size[1]));
    TF_ShapeInferenceContextSubshape(ctx, x4, 0, 1, batch, st);
  }
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSubshape(ctx, f4, 3, 4, out_c, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextConcatenateShapes(ctx, batch, h, a, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextConcatenateShapes(ctx, a, w, b, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextConcatenateShapes(ctx, b, out_c, o, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSetOutput(ctx, 0, o, st);
  for (auto s : {x, f, x4, f4, batch, out_c, a, b, o, h, w}) {
    if (s) TF_DeleteShapeHandle(s);
  }
}
void forward_shape_stride1(TF_ShapeInferenceContext* ctx, TF_Status* st) { forward_shape(ctx, st, 1); }
void forward_shape_stride2(TF_ShapeInferenceContext* ctx, TF_Status* st) { forward_shape(ctx, st, 2); }

// input_backprop has the input's shape, filter_backprop the filter's, bias_backprop [out]
void backward_shape(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  TF_ShapeHandle *x = TF_NewShapeHandle(), *f = TF_NewShapeHandle(), *f4 = TF_NewShapeHandle(),
                 *b = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, x, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextGetInput(ctx, 1, f, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextWithRank(ctx, f, 4, f4, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSubshape(ctx, f4, 3, 4, b, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSetOutput(ctx, 0, x, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSetOutput(ctx, 1, f, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSetOutput(ctx, 2, b, st);
  for (auto h : {x, f, f4, b}) TF_DeleteShapeHandle(h);
}

void register_pair(const char* name, const char* gradient_name,
    void (*shape)(TF_ShapeInferenceContext*, TF_Status*), void* (*create_forward)(TF_OpKernelConstruction*),
    void* (*create)(TF_OpKernelConstruction*)) {
  TF_Status* st = TF_NewStatus();
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(name);
  TF_OpDefinitionBuilderAddInput(b, "input: float");
  TF_OpDefinitionBuilderAddInput(b, "filter: float");
  TF_OpDefinitionBuilderAddInput(b, "bias: float");
  TF_OpDefinitionBuilderAddOutput(b, "output: float");
  // inference only: bfloat16 input and filter, float32 accumulation, bias and output
  TF_OpDefinitionBuilderAddAttr(b, "bf16: bool = false");
  // inference: the filter is the same weight every time the op runs within one Session.run
  TF_OpDefinitionBuilderAddAttr(b, "keep_filter: bool = false");
  // float32 3x3 stride 1: Winograd's F(4x4, 3x3) where oneDNN has it for the shape (see above)
  TF_OpDefinitionBuilderAddAttr(b, "winograd: bool = true");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, shape);
  TF_RegisterOpDefinition(b, st);
  TF_RegisterKernelBuilder((std::string(name) + "Op").c_str(),
      TF_NewKernelBuilder(name, "CPU", create_forward, &compute_forward, &destroy), st);

  b = TF_NewOpDefinitionBuilder(gradient_name);
  TF_OpDefinitionBuilderAddInput(b, "input: float");
  TF_OpDefinitionBuilderAddInput(b, "filter: float");
  TF_OpDefinitionBuilderAddInput(b, "out_backprop: float");
  TF_OpDefinitionBuilderAddOutput(b, "input_backprop: float");
  TF_OpDefinitionBuilderAddOutput(b, "filter_backprop: float");
  TF_OpDefinitionBuilderAddOutput(b, "bias_backprop: float");
  TF_OpDefinitionBuilderAddAttr(b, "winograd: bool = true");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &backward_shape);
  TF_RegisterOpDefinition(b, st);
  TF_RegisterKernelBuilder((std::string(gradient_name) + "Op").c_str(),
      TF_NewKernelBuilder(gradient_name, "CPU", create, &compute_backward, &destroy), st);
  TF_DeleteStatus(st);
}

__attribute__((constructor)) void register_ops() {
  register_pair("TfdConv2D", "TfdConv2DBackprop", &forward_shape_stride1, &create_forward1,
      &create_stride1);
  register_pair("TfdConv2DStride2", "TfdConv2DStride2Backprop", &forward_shape_stride2,
      &create_forward2, &create_stride2);
}
}  // namespace
