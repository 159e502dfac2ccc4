// PoC: a TensorFlow custom op "TfdConv2D" (NHWC float32, KxK filter [KH,KW,CI,CO], stride 1, SAME)
// running oneDNN's blocked-layout convolution, registered through TensorFlow's C kernel API.
#include <dnnl.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <memory>
extern "C" {
typedef struct TF_Status TF_Status;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_OpDefinitionBuilder TF_OpDefinitionBuilder;
typedef struct TF_ShapeInferenceContext TF_ShapeInferenceContext;
typedef struct TF_ShapeHandle TF_ShapeHandle;
typedef struct TF_KernelBuilder TF_KernelBuilder;
typedef struct TF_OpKernelConstruction TF_OpKernelConstruction;
typedef struct TF_OpKernelContext TF_OpKernelContext;
TF_Status* TF_NewStatus(void);
void TF_DeleteStatus(TF_Status*);
int TF_GetCode(const TF_Status*);
const char* TF_Message(const TF_Status*);
void TF_SetStatus(TF_Status*, int code, const char* msg);
TF_OpDefinitionBuilder* TF_NewOpDefinitionBuilder(const char* op_name);
void TF_OpDefinitionBuilderAddInput(TF_OpDefinitionBuilder*, const char*);
void TF_OpDefinitionBuilderAddOutput(TF_OpDefinitionBuilder*, const char*);
void TF_OpDefinitionBuilderSetShapeInferenceFunction(TF_OpDefinitionBuilder*, void (*)(TF_ShapeInferenceContext*, TF_Status*));
void TF_RegisterOpDefinition(TF_OpDefinitionBuilder*, TF_Status*);
TF_ShapeHandle* TF_NewShapeHandle(void);
void TF_DeleteShapeHandle(TF_ShapeHandle*);
void TF_ShapeInferenceContextGetInput(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextSubshape(TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t, int64_t, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextConcatenateShapes(TF_ShapeInferenceContext*, TF_ShapeHandle*, TF_ShapeHandle*, TF_ShapeHandle*, TF_Status*);
void TF_ShapeInferenceContextSetOutput(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
TF_KernelBuilder* TF_NewKernelBuilder(const char*, const char*, void* (*)(TF_OpKernelConstruction*), void (*)(void*, TF_OpKernelContext*), void (*)(void*));
void TF_RegisterKernelBuilder(const char*, TF_KernelBuilder*, TF_Status*);
void TF_GetInput(TF_OpKernelContext*, int, TF_Tensor**, TF_Status*);
TF_Tensor* TF_AllocateOutput(TF_OpKernelContext*, int, int dtype, const int64_t* dims, int num_dims, size_t len, TF_Status*);
void* TF_TensorData(const TF_Tensor*);
int64_t TF_Dim(const TF_Tensor*, int);
void TF_DeleteTensor(TF_Tensor*);
void TF_OpKernelContext_Failure(TF_OpKernelContext*, TF_Status*);
}
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

static engine& eng() { static engine e(engine::kind::cpu, 0); return e; }

struct Prim {
  convolution_forward conv;
  memory::desc src_md, w_md, dst_md;
  bool src_reorder, w_reorder, dst_reorder;
  std::unique_ptr<memory> src_b, w_b, dst_b;
  reorder src_r, w_r, dst_r;  // made once per shape, like the convolution
};
struct Kernel {
  std::mutex mu;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, std::unique_ptr<Prim>> cache;
};

static void shape_fn(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  TF_ShapeHandle *x = TF_NewShapeHandle(), *f = TF_NewShapeHandle(), *a = TF_NewShapeHandle(), *b = TF_NewShapeHandle(), *o = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, x, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextGetInput(ctx, 1, f, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSubshape(ctx, x, 0, 3, a, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSubshape(ctx, f, 3, 4, b, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextConcatenateShapes(ctx, a, b, o, st);
  if (TF_GetCode(st) == 0) TF_ShapeInferenceContextSetOutput(ctx, 0, o, st);
  for (auto h : {x, f, a, b, o}) TF_DeleteShapeHandle(h);
}

static void* create(TF_OpKernelConstruction*) { return new Kernel(); }
static void destroy(void* k) { delete static_cast<Kernel*>(k); }

static void compute(void* kp, TF_OpKernelContext* ctx) {
  Kernel* k = static_cast<Kernel*>(kp);
  TF_Status* st = TF_NewStatus();
  TF_Tensor *x = nullptr, *f = nullptr;
  TF_GetInput(ctx, 0, &x, st);
  if (TF_GetCode(st) == 0) TF_GetInput(ctx, 1, &f, st);
  if (TF_GetCode(st) != 0) { TF_OpKernelContext_Failure(ctx, st); TF_DeleteStatus(st); return; }
  int64_t B = TF_Dim(x, 0), H = TF_Dim(x, 1), W = TF_Dim(x, 2), CI = TF_Dim(x, 3);
  int64_t KH = TF_Dim(f, 0), KW = TF_Dim(f, 1), CO = TF_Dim(f, 3);
  int64_t dims[4] = {B, H, W, CO};
  TF_Tensor* y = TF_AllocateOutput(ctx, 0, 1, dims, 4, sizeof(float) * B * H * W * CO, st);
  if (TF_GetCode(st) != 0) { TF_OpKernelContext_Failure(ctx, st); TF_DeleteStatus(st); TF_DeleteTensor(x); TF_DeleteTensor(f); return; }
  std::lock_guard<std::mutex> lock(k->mu);
  auto key = std::make_tuple(B, H, W, CI, CO, KH, KW);
  auto& p = k->cache[key];
  memory::dims src_d = {B, CI, H, W}, w_d = {CO, CI, KH, KW}, dst_d = {B, CO, H, W};
  memory::desc user_src({src_d, dt::f32, tag::nhwc}), user_w({w_d, dt::f32, tag::hwio}), user_dst({dst_d, dt::f32, tag::nhwc});
  if (!p) {
    p.reset(new Prim());
    memory::dims st1 = {1, 1}, pl = {(KH - 1) / 2, (KW - 1) / 2}, pr = {KH - 1 - (KH - 1) / 2, KW - 1 - (KW - 1) / 2};
    auto pd = convolution_forward::primitive_desc({prop_kind::forward_inference, algorithm::convolution_direct,
        memory::desc(src_d, dt::f32, tag::any), memory::desc(w_d, dt::f32, tag::any), memory::desc(dst_d, dt::f32, tag::any), st1, pl, pr}, eng());
    p->conv = convolution_forward(pd);
    p->src_md = pd.src_desc(); p->w_md = pd.weights_desc(); p->dst_md = pd.dst_desc();
    p->src_reorder = p->src_md != user_src; p->w_reorder = p->w_md != user_w; p->dst_reorder = p->dst_md != user_dst;
    if (p->src_reorder) { p->src_b.reset(new memory(p->src_md, eng())); p->src_r = reorder(reorder::primitive_desc(eng(), user_src, eng(), p->src_md)); }
    if (p->w_reorder) { p->w_b.reset(new memory(p->w_md, eng())); p->w_r = reorder(reorder::primitive_desc(eng(), user_w, eng(), p->w_md)); }
    if (p->dst_reorder) { p->dst_b.reset(new memory(p->dst_md, eng())); p->dst_r = reorder(reorder::primitive_desc(eng(), p->dst_md, eng(), user_dst)); }
  }
  stream s(eng());
  memory us(user_src, eng(), TF_TensorData(x)), uw(user_w, eng(), TF_TensorData(f)), ud(user_dst, eng(), TF_TensorData(y));
  memory& src = p->src_reorder ? *p->src_b : us;
  memory& w = p->w_reorder ? *p->w_b : uw;
  memory& dst = p->dst_reorder ? *p->dst_b : ud;
  if (p->src_reorder) p->src_r.execute(s, us, src);
  if (p->w_reorder) p->w_r.execute(s, uw, w);
  p->conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}});
  if (p->dst_reorder) p->dst_r.execute(s, dst, ud);
  s.wait();
  TF_DeleteTensor(x); TF_DeleteTensor(f); TF_DeleteTensor(y); TF_DeleteStatus(st);
}

__attribute__((constructor)) static void register_op() {
  TF_Status* st = TF_NewStatus();
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder("TfdConv2D");
  TF_OpDefinitionBuilderAddInput(b, "input: float");
  TF_OpDefinitionBuilderAddInput(b, "filter: float");
  TF_OpDefinitionBuilderAddOutput(b, "output: float");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &shape_fn);
  TF_RegisterOpDefinition(b, st);
  TF_KernelBuilder* kb = TF_NewKernelBuilder("TfdConv2D", "CPU", &create, &compute, &destroy);
  TF_RegisterKernelBuilder("TfdConv2DOp", kb, st);
  TF_DeleteStatus(st);
}
