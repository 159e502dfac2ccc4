package org.tfdiffusion.testing;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.function.Function;

/**
 * Plain-Java, double-precision references for the layers of {@code org.tfdiffusion.nn}, written as
 * naive loops after PyTorch's semantics (translated to NHWC, HWIO kernels and [in, out] dense
 * weights). Composite references read their weights by full name through a lookup such as {@link
 * SeededWeights#get}.
 */
public final class ReferenceNn {
  /** PyTorch's {@code nn.GroupNorm} default ε. */
  public static final double GROUP_NORM_EPS = 1e-5;

  /** The base period of the tutorial's sinusoidal time embedding. */
  public static final double TIME_EMBEDDING_MAX_PERIOD = 10000.0;

  private ReferenceNn() {}

  /**
   * {@code nn.Conv2d(in, out, k, stride, padding=(k-1)/2)}: zero padding on every side, output size
   * {@code floor((H + 2p - k) / stride) + 1}.
   *
   * @param w [k, k, in, out] (HWIO)
   * @param bias [out]
   */
  public static Nhwc conv2d(Nhwc x, double[] w, double[] bias, int k, int out, int stride) {
    int in = x.channels();
    checkArgument(w.length == k * k * in * out, "conv weight size %s", w.length);
    int pad = (k - 1) / 2;
    int ho = (x.height() + 2 * pad - k) / stride + 1;
    int wo = (x.width() + 2 * pad - k) / stride + 1;
    Nhwc y = Nhwc.zeros(x.batch(), ho, wo, out);
    for (int b = 0; b < x.batch(); b++) {
      for (int oy = 0; oy < ho; oy++) {
        for (int ox = 0; ox < wo; ox++) {
          for (int o = 0; o < out; o++) {
            double sum = bias[o];
            for (int ky = 0; ky < k; ky++) {
              int iy = oy * stride + ky - pad;
              if (iy < 0 || iy >= x.height()) {
                continue;
              }
              for (int kx = 0; kx < k; kx++) {
                int ix = ox * stride + kx - pad;
                if (ix < 0 || ix >= x.width()) {
                  continue;
                }
                for (int c = 0; c < in; c++) {
                  sum += x.get(b, iy, ix, c) * w[((ky * k + kx) * in + c) * out + o];
                }
              }
            }
            y.set(b, oy, ox, o, sum);
          }
        }
      }
    }
    return y;
  }

  /** The exact gradients of a loss L with respect to a convolution's input, filter and bias. */
  public record ConvGradients(double[] dx, double[] dw, double[] db) {}

  /**
   * The gradients of {@code L = Σ conv2d(x, w, bias, k, out, stride) · upstream} (any bias: it
   * drops out), {@code upstream} of the convolution's output shape.
   */
  public static ConvGradients conv2dGradients(
      Nhwc x, double[] w, Nhwc upstream, int k, int stride) {
    int in = x.channels();
    int out = upstream.channels();
    checkArgument(w.length == k * k * in * out, "conv weight size %s", w.length);
    int pad = (k - 1) / 2;
    double[] dx = new double[x.data().length];
    double[] dw = new double[w.length];
    double[] db = new double[out];
    for (int b = 0; b < x.batch(); b++) {
      for (int oy = 0; oy < upstream.height(); oy++) {
        for (int ox = 0; ox < upstream.width(); ox++) {
          for (int o = 0; o < out; o++) {
            double r = upstream.get(b, oy, ox, o);
            db[o] += r;
            for (int ky = 0; ky < k; ky++) {
              for (int kx = 0; kx < k; kx++) {
                int iy = oy * stride + ky - pad;
                int ix = ox * stride + kx - pad;
                if (iy < 0 || iy >= x.height() || ix < 0 || ix >= x.width()) {
                  continue;
                }
                for (int c = 0; c < in; c++) {
                  int wi = ((ky * k + kx) * in + c) * out + o;
                  dx[x.index(b, iy, ix, c)] += r * w[wi];
                  dw[wi] += r * x.get(b, iy, ix, c);
                }
              }
            }
          }
        }
      }
    }
    return new ConvGradients(dx, dw, db);
  }

  /** {@code nn.Linear}: x [rows, in] · w [in, out] + bias [out] → [rows, out]. */
  public static double[] dense(double[] x, int rows, int in, double[] w, double[] bias, int out) {
    checkArgument(x.length == rows * in && w.length == in * out && bias.length == out, "sizes");
    double[] y = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double sum = bias[o];
        for (int i = 0; i < in; i++) {
          sum += x[r * in + i] * w[i * out + o];
        }
        y[r * out + o] = sum;
      }
    }
    return y;
  }

  /**
   * {@code nn.GroupNorm(groups, C, eps=1e-5)}: per image and group of C/G consecutive channels,
   * mean and biased variance over H, W and the group's channels; then γ, β per channel.
   */
  public static Nhwc groupNorm(Nhwc x, int groups, double[] gamma, double[] beta) {
    int c = x.channels();
    checkArgument(c % groups == 0, "%s channels, %s groups", c, groups);
    int perGroup = c / groups;
    int count = x.height() * x.width() * perGroup;
    Nhwc y = Nhwc.zeros(x.batch(), x.height(), x.width(), c);
    for (int b = 0; b < x.batch(); b++) {
      for (int g = 0; g < groups; g++) {
        double sum = 0;
        for (int i = 0; i < x.height(); i++) {
          for (int j = 0; j < x.width(); j++) {
            for (int ch = g * perGroup; ch < (g + 1) * perGroup; ch++) {
              sum += x.get(b, i, j, ch);
            }
          }
        }
        double mean = sum / count;
        double squares = 0;
        for (int i = 0; i < x.height(); i++) {
          for (int j = 0; j < x.width(); j++) {
            for (int ch = g * perGroup; ch < (g + 1) * perGroup; ch++) {
              double d = x.get(b, i, j, ch) - mean;
              squares += d * d;
            }
          }
        }
        double invStd = 1 / Math.sqrt(squares / count + GROUP_NORM_EPS);
        for (int i = 0; i < x.height(); i++) {
          for (int j = 0; j < x.width(); j++) {
            for (int ch = g * perGroup; ch < (g + 1) * perGroup; ch++) {
              y.set(b, i, j, ch, (x.get(b, i, j, ch) - mean) * invStd * gamma[ch] + beta[ch]);
            }
          }
        }
      }
    }
    return y;
  }

  /** SiLU: x·σ(x). */
  public static double silu(double x) {
    return x / (1 + Math.exp(-x));
  }

  /** SiLU element-wise (a new map). */
  public static Nhwc silu(Nhwc x) {
    double[] y = new double[x.data().length];
    for (int i = 0; i < y.length; i++) {
      y[i] = silu(x.data()[i]);
    }
    return new Nhwc(x.batch(), x.height(), x.width(), x.channels(), y);
  }

  /** SiLU element-wise (a new array). */
  public static double[] silu(double[] x) {
    double[] y = new double[x.length];
    for (int i = 0; i < y.length; i++) {
      y[i] = silu(x[i]);
    }
    return y;
  }

  /** {@code F.interpolate(x, scale_factor=2, mode='nearest')}: out[y][x] = in[y/2][x/2]. */
  public static Nhwc upsampleNearest2x(Nhwc x) {
    Nhwc y = Nhwc.zeros(x.batch(), 2 * x.height(), 2 * x.width(), x.channels());
    for (int b = 0; b < x.batch(); b++) {
      for (int i = 0; i < y.height(); i++) {
        for (int j = 0; j < y.width(); j++) {
          for (int c = 0; c < x.channels(); c++) {
            y.set(b, i, j, c, x.get(b, i / 2, j / 2, c));
          }
        }
      }
    }
    return y;
  }

  /**
   * The tutorial's sinusoidal features of one timestep: with half = d/2 and f_k = exp(-ln(10000)·k
   * / (half - 1)), {@code [sin(t f_0) .. sin(t f_{half-1}), cos(t f_0) .. cos(t f_{half-1})]}.
   */
  public static double[] sinusoidal(double t, int dim) {
    int half = dim / 2;
    double[] out = new double[dim];
    for (int k = 0; k < half; k++) {
      double f = Math.exp(-Math.log(TIME_EMBEDDING_MAX_PERIOD) * k / (half - 1));
      out[k] = Math.sin(t * f);
      out[half + k] = Math.cos(t * f);
    }
    return out;
  }

  /**
   * The tutorial's time embedding: sinusoidal features → Linear(d, 4d) → SiLU → Linear(4d, d), with
   * weights {@code prefix.mlp_0.*} and {@code prefix.mlp_2.*}. Returns [B, d].
   */
  public static double[] timeEmbedding(
      double[] t, int dim, Function<String, double[]> weights, String prefix) {
    int rows = t.length;
    double[] features = new double[rows * dim];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(sinusoidal(t[r], dim), 0, features, r * dim, dim);
    }
    int hidden = 4 * dim;
    double[] h =
        silu(
            dense(
                features,
                rows,
                dim,
                weights.apply(prefix + "mlp_0.weight"),
                weights.apply(prefix + "mlp_0.bias"),
                hidden));
    return dense(
        h,
        rows,
        hidden,
        weights.apply(prefix + "mlp_2.weight"),
        weights.apply(prefix + "mlp_2.bias"),
        dim);
  }

  /**
   * The tutorial's {@code ResidualBlock}: {@code conv2(SiLU(norm2(conv1(SiLU(norm1(x))) +
   * time_proj(emb)))) + (in == out ? x : skip(x))}, with weights {@code prefix.norm1.*}, {@code
   * conv1}, {@code time_proj}, {@code norm2}, {@code conv2} and {@code skip} (1×1).
   *
   * @param emb [B, embDim]
   */
  public static Nhwc resBlock(
      Nhwc x,
      double[] emb,
      int out,
      int embDim,
      int groups,
      Function<String, double[]> weights,
      String prefix) {
    int in = x.channels();
    Nhwc residual =
        in == out
            ? x
            : conv2d(
                x,
                weights.apply(prefix + "skip.weight"),
                weights.apply(prefix + "skip.bias"),
                1,
                out,
                1);
    Nhwc h =
        groupNorm(
            x,
            groups,
            weights.apply(prefix + "norm1.weight"),
            weights.apply(prefix + "norm1.bias"));
    h =
        conv2d(
            silu(h),
            weights.apply(prefix + "conv1.weight"),
            weights.apply(prefix + "conv1.bias"),
            3,
            out,
            1);
    double[] t =
        dense(
            emb,
            x.batch(),
            embDim,
            weights.apply(prefix + "time_proj.weight"),
            weights.apply(prefix + "time_proj.bias"),
            out);
    for (int b = 0; b < h.batch(); b++) {
      for (int i = 0; i < h.height(); i++) {
        for (int j = 0; j < h.width(); j++) {
          for (int o = 0; o < out; o++) {
            h.set(b, i, j, o, h.get(b, i, j, o) + t[b * out + o]);
          }
        }
      }
    }
    h =
        silu(
            groupNorm(
                h,
                groups,
                weights.apply(prefix + "norm2.weight"),
                weights.apply(prefix + "norm2.bias")));
    h =
        conv2d(
            h,
            weights.apply(prefix + "conv2.weight"),
            weights.apply(prefix + "conv2.bias"),
            3,
            out,
            1);
    return add(h, residual);
  }

  /**
   * Multi-head self-attention over pixels with a residual: {@code x + out(concat_h softmax(q_h k_hᵀ
   * / √d) v_h)} where q, k, v are per-pixel linear maps of GroupNorm(x) and head h owns channels
   * [h·d, (h+1)·d). Weights {@code prefix.norm.*}, {@code q}, {@code k}, {@code v}, {@code out}.
   */
  public static Nhwc attention(
      Nhwc x, int heads, int groups, Function<String, double[]> weights, String prefix) {
    int c = x.channels();
    int n = x.height() * x.width();
    int d = c / heads;
    int rows = x.batch() * n;
    Nhwc normed =
        groupNorm(
            x, groups, weights.apply(prefix + "norm.weight"), weights.apply(prefix + "norm.bias"));
    double[] h = normed.data();
    double[] q =
        dense(h, rows, c, weights.apply(prefix + "q.weight"), weights.apply(prefix + "q.bias"), c);
    double[] k =
        dense(h, rows, c, weights.apply(prefix + "k.weight"), weights.apply(prefix + "k.bias"), c);
    double[] v =
        dense(h, rows, c, weights.apply(prefix + "v.weight"), weights.apply(prefix + "v.bias"), c);
    double[] attended = new double[rows * c];
    double scale = 1 / Math.sqrt(d);
    for (int b = 0; b < x.batch(); b++) {
      for (int head = 0; head < heads; head++) {
        for (int i = 0; i < n; i++) {
          double[] p = new double[n];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < n; j++) {
            double s = 0;
            for (int e = 0; e < d; e++) {
              s += q[(b * n + i) * c + head * d + e] * k[(b * n + j) * c + head * d + e];
            }
            p[j] = s * scale;
            max = Math.max(max, p[j]);
          }
          double total = 0;
          for (int j = 0; j < n; j++) {
            p[j] = Math.exp(p[j] - max);
            total += p[j];
          }
          for (int e = 0; e < d; e++) {
            double s = 0;
            for (int j = 0; j < n; j++) {
              s += p[j] / total * v[(b * n + j) * c + head * d + e];
            }
            attended[(b * n + i) * c + head * d + e] = s;
          }
        }
      }
    }
    double[] projected =
        dense(
            attended,
            rows,
            c,
            weights.apply(prefix + "out.weight"),
            weights.apply(prefix + "out.bias"),
            c);
    return add(x, new Nhwc(x.batch(), x.height(), x.width(), c, projected));
  }

  /** Element-wise sum (a new map). */
  public static Nhwc add(Nhwc a, Nhwc b) {
    checkArgument(a.data().length == b.data().length, "sizes differ");
    double[] y = new double[a.data().length];
    for (int i = 0; i < y.length; i++) {
      y[i] = a.data()[i] + b.data()[i];
    }
    return new Nhwc(a.batch(), a.height(), a.width(), a.channels(), y);
  }
}
