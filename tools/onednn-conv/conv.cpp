// oneDNN's 3x3 convolution in its own blocked layout (the primitive picks it: "any" formats) at the
// U-Net's shapes, outside TensorFlow, with its direct kernels and with Winograd's F(4x4, 3x3):
// forward alone and with the NHWC -> blocked -> NHWC reorders a TensorFlow op on NHWC tensors would
// add, the input gradient and the filter gradient, in GFLOP/s of the direct convolution's FLOPs
// (median of 9), and the largest scratchpad. Run it with ./run.sh; docs/performance.md (Kernels)
// says what it is compared with.
#include <dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <class F> double med(F f, int n = 9) { f(); f(); std::vector<double> t; for (int i = 0; i < n; i++) { double s = now(); f(); t.push_back(now() - s); } std::sort(t.begin(), t.end()); return t[n / 2]; }
int main() {
  engine eng(engine::kind::cpu, 0); stream s(eng);
  primitive_attr attr; attr.set_scratchpad_mode(scratchpad_mode::user);  // its size, queried below
  int shapes[][4] = {{16,32,64,64},{16,32,128,128},{16,16,256,256},{16,8,512,512},{16,4,1024,1024},{32,8,1024,1024},{32,32,64,64},{32,32,128,128}};
  for (auto& sh : shapes) for (auto alg : {algorithm::convolution_direct, algorithm::convolution_winograd}) {
    int B = sh[0], H = sh[1], CI = sh[2], CO = sh[3];
    memory::dims src_d = {B, CI, H, H}, w_d = {CO, CI, 3, 3}, dst_d = {B, CO, H, H}, st = {1, 1}, pad = {1, 1};
    auto src_any = memory::desc(src_d, dt::f32, tag::any), w_any = memory::desc(w_d, dt::f32, tag::any), dst_any = memory::desc(dst_d, dt::f32, tag::any);
    auto fwd_pd = convolution_forward::primitive_desc({prop_kind::forward_training, alg, src_any, w_any, dst_any, st, pad, pad}, attr, eng);
    memory src_nhwc({src_d, dt::f32, tag::nhwc}, eng), dst_nhwc({dst_d, dt::f32, tag::nhwc}, eng);
    memory src(fwd_pd.src_desc(), eng), w(fwd_pd.weights_desc(), eng), dst(fwd_pd.dst_desc(), eng);
    auto fill = [](memory& m) {  // every buffer timed holds defined values, none denormal
      float* p = (float*)m.get_data_handle();
      for (size_t i = 0; i < m.get_desc().get_size() / sizeof(float); i++) p[i] = (i % 7) * 0.1f - 0.3f;
    };
    fill(src_nhwc);
    fill(src); fill(w); fill(dst);
    memory fsp(fwd_pd.scratchpad_desc(), eng);
    convolution_forward conv(fwd_pd);
    reorder rin(src_nhwc, src), rout(dst, dst_nhwc);
    double gflop = 2.0 * 9 * CI * CO * H * H * B / 1e9;
    double tc = med([&] { conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, fsp}}); s.wait(); });
    double tr = med([&] { rin.execute(s, src_nhwc, src); conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, fsp}}); rout.execute(s, dst, dst_nhwc); s.wait(); });
    // backward weights (filter gradient), blocked
    auto bw_pd = convolution_backward_weights::primitive_desc({alg, src_any, w_any, dst_any, st, pad, pad}, attr, eng, fwd_pd);
    memory bsrc(bw_pd.src_desc(), eng), bdiff_dst(bw_pd.diff_dst_desc(), eng), bdiff_w(bw_pd.diff_weights_desc(), eng);
    fill(bsrc); fill(bdiff_dst); fill(bdiff_w);
    memory wsp(bw_pd.scratchpad_desc(), eng);
    convolution_backward_weights bw(bw_pd);
    double tw = med([&] { bw.execute(s, {{DNNL_ARG_SRC, bsrc}, {DNNL_ARG_DIFF_DST, bdiff_dst}, {DNNL_ARG_DIFF_WEIGHTS, bdiff_w}, {DNNL_ARG_SCRATCHPAD, wsp}}); s.wait(); });
    auto bd_pd = convolution_backward_data::primitive_desc({alg, src_any, w_any, dst_any, st, pad, pad}, attr, eng, fwd_pd);
    memory ddst(bd_pd.diff_dst_desc(), eng), dw(bd_pd.weights_desc(), eng), dsrc(bd_pd.diff_src_desc(), eng);
    fill(ddst); fill(dw); fill(dsrc);
    memory dsp(bd_pd.scratchpad_desc(), eng);
    convolution_backward_data bd(bd_pd);
    double td = med([&] { bd.execute(s, {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, dw}, {DNNL_ARG_DIFF_SRC, dsrc}, {DNNL_ARG_SCRATCHPAD, dsp}}); s.wait(); });
    double pad_mib = std::max({fwd_pd.scratchpad_desc().get_size(), bw_pd.scratchpad_desc().get_size(), bd_pd.scratchpad_desc().get_size()}) / 1048576.0;
    printf("%dx%dx%dx%d->%d  fwd %s: %.0f GFLOP/s, with NHWC reorders %.0f | input grad %.0f | filter grad %s %.0f | scratchpad %.0f MiB\n", B, H, H, CI, CO,
           fwd_pd.impl_info_str(), gflop / tc, gflop / tr, gflop / td, bw_pd.impl_info_str(), gflop / tw, pad_mib);
  }
}
