// A proof of concept, not part of the build (README, Speed): rewrites every stride-1 SAME NHWC
// Conv2D of a U-Net's plain forward pass and of its compiled sampling loop (the While body's
// function too) into TfdConv2D, the custom op of tfdconv.cpp that runs oneDNN's blocked-layout
// convolution, and times both graphs and compares their outputs. Run it with ./run-op.sh.
// Arguments: small|tutorial, timed repetitions, optionally "xla".
import java.util.*;
import org.tensorflow.*;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.*;
import org.tensorflow.types.*;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.*;
import org.tfdiffusion.model.*;
import org.tfdiffusion.nn.*;
import org.tfdiffusion.sampling.*;
import org.tfdiffusion.schedule.NoiseSchedule;

public class CustomConvSampling {
  static boolean conv(NodeDef.Builder n) {
    if (!n.getOp().equals("Conv2D")) return false;
    var a = n.getAttrMap();
    return a.get("padding").getS().toStringUtf8().equals("SAME")
        && a.get("strides").getList().getIList().equals(List.of(1L, 1L, 1L, 1L))
        && (!a.containsKey("data_format") || a.get("data_format").getS().toStringUtf8().equals("NHWC"));
  }
  static int rewrite(List<NodeDef.Builder> nodes) {
    int c = 0;
    for (NodeDef.Builder n : nodes) if (conv(n)) { n.setOp("TfdConv2D"); n.clearAttr(); c++; }
    return c;
  }
  public static void main(String[] a) throws Exception {
    TensorFlow.loadLibrary(System.getenv("TFD_CONV_OP"));
    UNetConfig config = a[0].equals("small") ? UNetConfig.small() : UNetConfig.tutorial();
    int batch = 16, reps = Integer.parseInt(a[1]);
    SamplingPlan plan = DdimSampler.of(10, 0).plan(NoiseSchedule.linear(), Prediction.EPSILON);
    UNet unet = new UNet(config);
    int s = config.imageSize();
    Shape image = Shape.of(s, s, config.channels());
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters weights = new VariableParameters(tf, 0);
      Placeholder<TFloat32> x = tf.withName("x").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, s, s, config.channels())));
      Placeholder<TInt32> t = tf.withName("t").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      Operand<TFloat32> eps = unet.apply(NetScope.inference(tf, weights), x, t, Optional.empty());
      SamplingLoop.Model net = (f, w, xi, ti, cond) -> unet.apply(NetScope.inference(f, w), xi, ti, Optional.empty());
      Placeholder<TInt64> seeds = tf.withName("seeds").placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      Operand<TFloat32> samples = SamplingLoop.compiled(tf, plan, image, net, Map.copyOf(weights.variables()), seeds, List.of(), 0).samples();
      List<String> inits = new ArrayList<>();
      g.operations().forEachRemaining(op -> { if (g.isInitializer(op)) inits.add(op.name()); });
      GraphDef.Builder def = g.toGraphDef().toBuilder();
      int main = rewrite(def.getNodeBuilderList());
      int fn = 0;
      for (FunctionDef.Builder f : def.getLibraryBuilder().getFunctionBuilderList()) fn += rewrite(f.getNodeDefBuilderList());
      System.out.printf("rewrote %d convolutions in the main graph, %d in functions%n", main, fn);
      float[] input = new float[batch * s * s * config.channels()];
      Random random = new Random(1);
      for (int i = 0; i < input.length; i++) input[i] = (float) random.nextGaussian();
      int[] times = new int[batch]; Arrays.fill(times, 500);
      long[] sv = new long[batch]; for (int i = 0; i < batch; i++) sv[i] = i;
      float[][] outs = new float[4][];
      for (int variant = 0; variant < 2; variant++) {
        try (Graph g2 = new Graph()) {
          g2.importGraphDef(variant == 0 ? g.toGraphDef() : def.build());
          boolean xla = a.length > 2 && a[2].equals("xla");
          try (Session sess = new Session(g2, SessionOptions.defaults().withXla(xla).toConfigProto());
              TFloat32 xs = TensorIO.floats(Shape.of(batch, s, s, config.channels()), input);
              TInt32 ts = TInt32.vectorOf(times); TInt64 st = TensorIO.longs(sv)) {
            Session.Runner r = sess.runner(); inits.forEach(r::addTarget); r.run();
            double[] tf_ = new double[reps], tl = new double[reps];
            for (int i = -1; i < reps; i++) {
              long t0 = System.nanoTime();
              try (var res = sess.runner().feed("x", xs).feed("t", ts).fetch(eps.op().name()).run()) { if (i == -1) outs[variant * 2] = TensorIO.toFloats(res.get(0)); }
              long t1 = System.nanoTime();
              try (var res = sess.runner().feed("seeds", st).fetch(samples.op().name()).run()) { if (i == -1) outs[variant * 2 + 1] = TensorIO.toFloats(res.get(0)); }
              long t2 = System.nanoTime();
              if (i >= 0) { tf_[i] = (t1 - t0) / 1e9; tl[i] = (t2 - t1) / 1e9 / plan.steps(); }
            }
            Arrays.sort(tf_); Arrays.sort(tl);
            System.out.printf("%s%s: forward %.3f s, compiled loop %.3f s/step%n", variant == 0 ? "standard ops" : "TfdConv2D (oneDNN blocked)", xla ? " +XLA" : "", tf_[reps / 2], tl[reps / 2]);
          }
        }
      }
      double d1 = 0, d2 = 0;
      for (int i = 0; i < outs[0].length; i++) d1 = Math.max(d1, Math.abs(outs[0][i] - outs[2][i]));
      for (int i = 0; i < outs[1].length; i++) d2 = Math.max(d2, Math.abs(outs[1][i] - outs[3][i]));
      System.out.printf("max |difference|: forward %.2e, samples %.2e%n", d1, d2);
    }
  }
}
