package org.tfdiffusion.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.framework.optimizers.Adam;
import org.tensorflow.framework.optimizers.Optimizer.GradAndVar;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TType;
import org.tfdiffusion.diffusion.GaussianDiffusion;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.VariableParameters;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.GraphRunner;

class UNetTest {

  /** 8x8 grayscale, width 16, 2 levels, 4 norm groups: builds and runs in milliseconds. */
  static UNetConfig tiny() {
    return UNetConfig.builder()
        .imageSize(8)
        .channels(1)
        .baseWidth(16)
        .levels(2)
        .normGroups(4)
        .build();
  }

  static Stream<Arguments> configs() {
    return Stream.of(
        Arguments.of("tiny grayscale", tiny()),
        Arguments.of(
            "RGB 16x16, 3 levels, 2 blocks, attention at 8 with 2 heads",
            UNetConfig.builder()
                .imageSize(16)
                .channels(3)
                .baseWidth(16)
                .levels(3)
                .blocksPerLevel(2)
                .attentionResolutions(Set.of(8))
                .attentionHeads(2)
                .normGroups(4)
                .build()),
        Arguments.of(
            "12x12, multipliers 1,2,2",
            UNetConfig.builder()
                .imageSize(12)
                .channels(1)
                .baseWidth(8)
                .channelMultipliers(List.of(1, 2, 2))
                .normGroups(4)
                .build()),
        Arguments.of(
            "single level with attention",
            UNetConfig.builder()
                .imageSize(6)
                .channels(2)
                .baseWidth(8)
                .levels(1)
                .attentionResolutions(Set.of(6))
                .normGroups(4)
                .build()),
        Arguments.of(
            "conditional, 3 classes, dropout",
            tiny().toBuilder().channels(3).numClasses(3).dropout(0.1).build()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configs")
  void outputShapeEqualsInputShape(String name, UNetConfig config) {
    UNet unet = new UNet(config);
    int batch = 3;
    int s = config.imageSize();
    int c = config.channels();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope =
          config.dropout() > 0
              ? NetScope.training(tf, new VariableParameters(tf, 1), tf.constant(new long[] {3, 4}))
              : NetScope.inference(tf, new VariableParameters(tf, 1));
      Operand<TFloat32> x =
          tf.constant(
              TensorIO.floats(
                  Shape.of(batch, s, s, c), GraphRunner.gaussian(5, batch * s * s * c)));
      Optional<Operand<TInt32>> labels =
          config.conditional()
              ? Optional.of(tf.constant(new int[] {0, 2, config.numClasses()}))
              : Optional.empty();
      Operand<TFloat32> y = unet.apply(scope, x, tf.constant(new int[] {0, 500, 999}), labels);
      assertThat(y.shape()).isEqualTo(Shape.of(batch, s, s, c));
      try (Session session = new Session(g);
          Result r = session.runner().fetch(y).run()) {
        assertThat(r.get(0).shape()).isEqualTo(Shape.of(batch, s, s, c));
        float[] values = TensorIO.toFloats(r.get(0));
        for (float v : values) {
          assertThat(v).isFinite();
        }
      }
    }
  }

  @Test
  void everyWeightReceivesANonZeroGradientFromTheLoss() {
    UNetConfig config =
        tiny().toBuilder().numClasses(2).attentionResolutions(Set.of(4)).blocksPerLevel(2).build();
    UNet unet = new UNet(config);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters weights = new VariableParameters(tf, 11);
      NetScope scope = NetScope.inference(tf, weights);
      int batch = 4;
      Operand<TFloat32> x0 =
          tf.constant(
              TensorIO.floats(Shape.of(batch, 8, 8, 1), GraphRunner.gaussian(2, batch * 64)));
      Operand<TInt32> labels = tf.constant(new int[] {0, 1, 2, 1});
      GaussianDiffusion diffusion = new GaussianDiffusion(tf, NoiseSchedule.linear());
      GaussianDiffusion.Loss loss =
          diffusion.trainingLoss(
              (xt, t) -> unet.apply(scope, xt, t, Optional.of(labels)),
              Prediction.EPSILON,
              x0,
              tf.constant(new long[] {1, 2}));
      List<String> names = new ArrayList<>(weights.variables().keySet());
      Gradients grads = tf.gradients(loss.value(), weights.variables().values());
      assertThat(names).containsAll(unet.trace().parameters().keySet());
      try (Session session = new Session(g)) {
        Session.Runner runner = session.runner();
        grads.dy().forEach(runner::fetch);
        try (Result r = runner.run()) {
          for (int i = 0; i < names.size(); i++) {
            float[] grad = TensorIO.toFloats(r.get(i));
            double norm = 0;
            for (float v : grad) {
              assertThat(v).as("gradient of %s", names.get(i)).isFinite();
              norm += v * v;
            }
            assertThat(norm).as("squared gradient norm of %s", names.get(i)).isGreaterThan(0);
          }
        }
      }
    }
  }

  @Test
  void theSameSeedGivesTheSameInitialWeightsAndAnotherSeedOthers() {
    Map<String, float[]> first = initialWeights(tiny(), 42);
    Map<String, float[]> again = initialWeights(tiny(), 42);
    Map<String, float[]> other = initialWeights(tiny(), 43);
    assertThat(first.keySet()).isEqualTo(again.keySet()).isEqualTo(other.keySet());
    int differing = 0;
    for (String name : first.keySet()) {
      assertThat(again.get(name)).as(name).containsExactly(first.get(name));
      if (!java.util.Arrays.equals(first.get(name), other.get(name))) {
        differing++;
      }
    }
    // Norm scales (ones) and biases (zeros) do not depend on the seed; every conv/dense weight
    // does.
    long randomWeights = first.keySet().stream().filter(n -> !n.contains("norm")).count();
    assertThat(differing).isEqualTo((int) randomWeights);
  }

  private static Map<String, float[]> initialWeights(UNetConfig config, long seed) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters weights = new VariableParameters(tf, seed);
      new UNet(config)
          .apply(
              NetScope.inference(tf, weights),
              tf.placeholder(
                  TFloat32.class, org.tensorflow.op.core.Placeholder.shape(Shape.of(-1, 8, 8, 1))),
              tf.constant(new int[] {1}),
              Optional.empty());
      Map<String, float[]> values = new java.util.LinkedHashMap<>();
      try (Session session = new Session(g)) {
        for (Map.Entry<String, Variable<TFloat32>> e : weights.variables().entrySet()) {
          try (Result r = session.runner().fetch(e.getValue()).run()) {
            values.put(e.getKey(), TensorIO.toFloats(r.get(0)));
          }
        }
      }
      return values;
    }
  }

  @Test
  void twoHundredAdamStepsOnOneFixedBatchCutTheLossTenfold() {
    UNet unet = new UNet(tiny());
    int batch = 8;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters weights = new VariableParameters(tf, 3);
      NetScope scope = NetScope.inference(tf, weights);
      GaussianDiffusion diffusion = new GaussianDiffusion(tf, NoiseSchedule.linear());
      Operand<TFloat32> x0 =
          tf.constant(TensorIO.floats(Shape.of(batch, 8, 8, 1), uniformImages(7, batch * 64)));
      Operand<TFloat32> noise =
          tf.constant(
              TensorIO.floats(Shape.of(batch, 8, 8, 1), GraphRunner.gaussian(8, batch * 64)));
      Operand<TInt32> t = tf.constant(new int[] {10, 100, 200, 300, 500, 700, 900, 990});
      GaussianDiffusion.Loss loss =
          diffusion.pLosses(
              (xt, tt) -> unet.apply(scope, xt, tt, Optional.empty()),
              Prediction.EPSILON,
              x0,
              t,
              noise);
      List<Variable<TFloat32>> vars = new ArrayList<>(weights.variables().values());
      Gradients grads = tf.gradients(loss.value(), vars);
      List<GradAndVar<? extends TType>> pairs = new ArrayList<>();
      for (int i = 0; i < vars.size(); i++) {
        pairs.add(
            new GradAndVar<>(grads.<TFloat32>dy(i), (Output<TFloat32>) vars.get(i).asOutput()));
      }
      Op train = new Adam(g, 3e-3f).applyGradients(pairs, "adam");
      try (Session session = new Session(g)) {
        float first = lossValue(session, loss.value());
        for (int step = 0; step < 200; step++) {
          session.runner().addTarget(train).run().close();
        }
        float last = lossValue(session, loss.value());
        assertThat(first).isGreaterThan(0.3f);
        assertThat(last).as("loss after 200 steps, from %s", first).isLessThan(first / 10);
      }
    }
  }

  private static float lossValue(Session session, Operand<TFloat32> loss) {
    try (Result r = session.runner().fetch(loss).run()) {
      return TensorIO.toFloats(r.get(0))[0];
    }
  }

  private static float[] uniformImages(long seed, int n) {
    java.util.Random random = new java.util.Random(seed);
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = random.nextFloat() * 2 - 1;
    }
    return out;
  }

  @Test
  void sizesThatDoNotDivideFailWithSizesThatWould() {
    assertThatThrownBy(() -> UNetConfig.builder().imageSize(30).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("image size 30")
        .hasMessageContaining("2^(levels-1) = 8")
        .hasMessageContaining("use 24 or 32");
    assertThatThrownBy(() -> UNetConfig.builder().imageSize(6).levels(4).build())
        .hasMessageContaining("use 8");
    assertThatThrownBy(() -> UNetConfig.builder().baseWidth(12).build())
        .hasMessageContaining("12 channels")
        .hasMessageContaining("8 norm groups");
    assertThatThrownBy(() -> UNetConfig.builder().attentionResolutions(Set.of(10)).build())
        .hasMessageContaining("attention resolution 10")
        .hasMessageContaining("[32, 16, 8, 4]");
    assertThatThrownBy(() -> UNetConfig.builder().dropout(1.0).build())
        .hasMessageContaining("dropout");
  }

  @Test
  void labelsAreRequiredExactlyForConditionalModels() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> x = tf.zeros(tf.constant(new int[] {1, 8, 8, 1}), TFloat32.class);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 0));
      Operand<TInt32> t = tf.constant(new int[] {1});
      assertThatThrownBy(() -> new UNet(tiny()).apply(scope, x, t, Optional.of(t)))
          .hasMessageContaining("unconditional");
      assertThatThrownBy(
              () ->
                  new UNet(tiny().toBuilder().numClasses(3).build())
                      .apply(scope, x, t, Optional.empty()))
          .hasMessageContaining("class-conditional (3 classes)");
      assertThatThrownBy(
              () ->
                  new UNet(tiny())
                      .apply(
                          scope,
                          tf.zeros(tf.constant(new int[] {1, 8, 8, 3}), TFloat32.class),
                          t,
                          Optional.empty()))
          .hasMessageContaining("expects images [B, 8, 8, 1]");
    }
  }
}
