package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.google.common.hash.Hashing;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.StepProfile;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.testing.Nhwc;

/**
 * The weight views: {@link VariableParameters} (seeded, name-keyed variables) and {@link
 * BoundParameters} (given operands), and the {@link Initializer}s they start from.
 */
class ParametersTest {
  private static final ParameterSpec CONV =
      new ParameterSpec("down_0.res_0.conv1.weight", Shape.of(3, 3, 4, 8), Initializer.fanIn(36));
  private static final ParameterSpec BIAS =
      new ParameterSpec("down_0.res_0.conv1.bias", Shape.of(8), Initializer.fanIn(36));

  @Test
  void sameSeedGivesTheSameInitialValuesInSeparateGraphs() {
    List<float[]> first = initialValues(42, List.of(CONV, BIAS));
    List<float[]> second = initialValues(42, List.of(CONV, BIAS));

    assertThat(second.get(0)).containsExactly(first.get(0));
    assertThat(second.get(1)).containsExactly(first.get(1));
    // Not a degenerate fill.
    assertThat(distinct(first.get(0))).isGreaterThan(first.get(0).length / 2);
  }

  @Test
  void initialValueDependsOnTheNameNotTheBuildOrder() {
    List<float[]> forward = initialValues(42, List.of(CONV, BIAS));
    List<float[]> backward = initialValues(42, List.of(BIAS, CONV));

    assertThat(backward.get(1)).containsExactly(forward.get(0));
    assertThat(backward.get(0)).containsExactly(forward.get(1));
  }

  @Test
  void differentSeedsOrNamesGiveDifferentValues() {
    float[] seed42 = initialValues(42, List.of(CONV)).get(0);
    float[] seed43 = initialValues(43, List.of(CONV)).get(0);
    ParameterSpec renamed =
        new ParameterSpec("down_0.res_0.conv2.weight", CONV.shape(), CONV.initializer());
    float[] otherName = initialValues(42, List.of(renamed)).get(0);

    assertThat(countEqual(seed42, seed43)).isLessThan(seed42.length / 100);
    assertThat(countEqual(seed42, otherName)).isLessThan(seed42.length / 100);
  }

  @Test
  void initialValuesAreDrawnWhenTheSessionRunsAndEqualTheSeedsDraws() {
    // Large enough for TensorFlow to fold a draw from a constant seed (3×3×32×32 it does not).
    ParameterSpec wide =
        new ParameterSpec("mid.conv.weight", Shape.of(3, 3, 64, 64), Initializer.fanIn(576));
    long nameHash =
        Hashing.farmHashFingerprint64().hashString(wide.name(), StandardCharsets.UTF_8).asLong();
    List<String> folded;
    float[] constantSeed;
    try (Graph g = new Graph()) {
      // The initializer from a constant seed [model seed, FarmHash of the name]: TensorFlow folds
      // the whole draw into a constant of the graph when the session first runs it.
      Ops tf = Ops.create(g);
      Operand<TFloat32> init =
          wide.initializer()
              .build(tf.withInitScope(), wide.shape(), tf.constant(new long[] {42, nameHash}));
      Variable<TFloat32> w = tf.variable(init);
      try (Session s = new Session(g)) {
        folded = opTypes(StepProfile.traceInitializers(s));
        try (Result r = s.runner().fetch(w).run()) {
          constantSeed = TensorIO.toFloats(r.get(0));
        }
      }
    }
    List<String> drawn;
    float[] variable;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> w = new VariableParameters(tf, 42).get(wide);
      try (Session s = new Session(g)) {
        drawn = opTypes(StepProfile.traceInitializers(s));
        try (Result r = s.runner().fetch(w).run()) {
          variable = TensorIO.toFloats(r.get(0));
        }
      }
    }

    assertThat(variable).containsExactly(constantSeed);
    assertThat(folded).doesNotContain("StatelessRandomUniform");
    assertThat(drawn).contains("StatelessRandomUniform", "Timestamp");
  }

  private static List<String> opTypes(StepProfile profile) {
    return profile.rows().stream().map(StepProfile.Row::opType).toList();
  }

  @Test
  void uniformStaysWithinOneOverRootFanInWithTheUniformVariance() {
    long fanIn = 3 * 3 * 64;
    double bound = 1 / Math.sqrt(fanIn);
    ParameterSpec spec =
        new ParameterSpec("mid.conv.weight", Shape.of(3, 3, 64, 64), Initializer.fanIn(fanIn));
    float[] w = initialValues(7, List.of(spec)).get(0);
    int n = w.length;

    double sum = 0;
    double squares = 0;
    double largest = 0;
    // The graph scales by the float32 bound, which may exceed the exact bound by half an ulp.
    double floatBound = (float) bound;
    for (float v : w) {
      assertThat((double) v).isBetween(-Math.max(bound, floatBound), Math.max(bound, floatBound));
      sum += v;
      squares += (double) v * v;
      largest = Math.max(largest, Math.abs(v));
    }
    double mean = sum / n;
    double variance = squares / n - mean * mean;
    // U(-b, b): mean 0 (sd b/√(3n)), variance b²/3 (relative sd 3·√(4/45/n) ≈ 0.5% here; allow 5%).
    assertThat(mean).isCloseTo(0, within(5 * bound / Math.sqrt(3.0 * n)));
    assertThat(variance).isCloseTo(bound * bound / 3, within(0.05 * bound * bound / 3));
    // The whole range is used: P(max |v| < 0.99 b) = 0.99^n, about 1e-161.
    assertThat(largest).isGreaterThan(0.99 * bound);
  }

  @Test
  void normalAndConstantInitializers() {
    ParameterSpec normal =
        new ParameterSpec("embed.weight", Shape.of(100, 100), Initializer.normal(0.02));
    ParameterSpec ones = new ParameterSpec("norm.weight", Shape.of(16), Initializer.constant(1));
    List<float[]> values = initialValues(9, List.of(normal, ones));

    double squares = 0;
    for (float v : values.get(0)) {
      squares += (double) v * v;
    }
    // Sample variance of 10⁴ normals: relative sd √(2/n) ≈ 1.4%, so the sample std is within
    // 0.7% (sd) of 0.02; allow 3.5% (5 sd).
    assertThat(Math.sqrt(squares / values.get(0).length)).isCloseTo(0.02, within(0.02 * 0.035));
    assertThat(values.get(1)).containsOnly(1f);
  }

  @Test
  void variablesAreNamedExactlyAfterTheirWeights() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters params = new VariableParameters(tf, 1);
      NetScope scope = NetScope.inference(tf, params);
      Operand<TFloat32> x = Nhwc.gaussian(1, 1, 4, 4, 4).constant(tf);
      Conv2d.apply(scope.child("down_0").child("res_0").child("conv1"), x, 4, 8, 3, 1);

      GraphOperation weight = g.operation("down_0.res_0.conv1.weight");
      assertThat(weight).as("variable op named down_0.res_0.conv1.weight").isNotNull();
      assertThat(weight.output(0).shape()).isEqualTo(Shape.of(3, 3, 4, 8));
      assertThat(g.operation("down_0.res_0.conv1.bias")).isNotNull();
      assertThat(params.variables().keySet())
          .containsExactly("down_0.res_0.conv1.weight", "down_0.res_0.conv1.bias");
      assertThat(params.specs().get("down_0.res_0.conv1.weight")).isEqualTo(CONV);
    }
  }

  @Test
  void sameNameSameShapeIsOneVariable() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters params = new VariableParameters(tf, 1);

      assertThat(params.get(CONV)).isSameAs(params.get(CONV));
      assertThat(params.variables()).hasSize(1);
    }
  }

  @Test
  void sameNameWithAnotherShapeFailsNamingTheWeightAndBothShapes() {
    ParameterSpec reshaped =
        new ParameterSpec(CONV.name(), Shape.of(3, 3, 8, 8), CONV.initializer());
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters params = new VariableParameters(tf, 1);
      params.get(CONV);

      assertThatThrownBy(() -> params.get(reshaped))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(CONV.name())
          .hasMessageContaining(reshaped.shape().toString())
          .hasMessageContaining(CONV.shape().toString());
    }
  }

  @Test
  void scopeRejectsAWeightDeclaredTwiceWithDifferentShapes() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1)).child("proj");
      scope.param("weight", Shape.of(4, 8), Initializer.fanIn(4));

      assertThatThrownBy(() -> scope.param("weight", Shape.of(8, 8), Initializer.fanIn(8)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("proj.weight")
          .hasMessageContaining("[4, 8]")
          .hasMessageContaining("[8, 8]");
    }
  }

  @Test
  void scopeJoinsPathsWithDotsAndRejectsBadNames() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope root = NetScope.inference(tf, new VariableParameters(tf, 1));

      assertThat(root.path()).isEmpty();
      assertThat(root.child("up_1").child("res_0").path()).isEqualTo("up_1.res_0");
      assertThatThrownBy(() -> root.child("a.b"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'a.b'");
      assertThatThrownBy(() -> root.child("")).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void boundParametersReturnTheBoundOperand() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> conv = tf.zeros(tf.constant(new int[] {3, 3, 4, 8}), TFloat32.class);
      Operand<TFloat32> unknown = tf.placeholder(TFloat32.class);
      Operand<TFloat32> partly = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
      ParameterSpec other = new ParameterSpec("other", Shape.of(5), Initializer.constant(0));
      ParameterSpec third = new ParameterSpec("third", Shape.of(8), Initializer.constant(0));
      BoundParameters params =
          new BoundParameters(Map.of(CONV.name(), conv, "other", unknown, "third", partly));

      assertThat(params.get(CONV)).isSameAs(conv);
      // Shapes that are unknown or compatible are accepted (function inputs may carry none).
      assertThat(params.get(other)).isSameAs(unknown);
      assertThat(params.get(third)).isSameAs(partly);
    }
  }

  @Test
  void boundParametersFailNamingAMissingWeight() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      BoundParameters params = new BoundParameters(Map.of(BIAS.name(), tf.constant(new float[8])));

      assertThatThrownBy(() -> params.get(CONV))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("no value bound for weight down_0.res_0.conv1.weight");
    }
  }

  @Test
  void boundParametersFailNamingAWeightOfTheWrongShape() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      BoundParameters params =
          new BoundParameters(
              Map.of(CONV.name(), tf.zeros(tf.constant(new int[] {3, 3, 8, 4}), TFloat32.class)));

      assertThatThrownBy(() -> params.get(CONV))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("weight down_0.res_0.conv1.weight")
          .hasMessageContaining("[3, 3, 8, 4]")
          .hasMessageContaining("[3, 3, 4, 8]");
    }
  }

  /**
   * Builds a graph with {@link VariableParameters} of {@code seed} and reads the variables once.
   */
  private static List<float[]> initialValues(long seed, List<ParameterSpec> specs) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      VariableParameters params = new VariableParameters(tf, seed);
      List<Operand<TFloat32>> variables = new ArrayList<>();
      for (ParameterSpec spec : specs) {
        variables.add(params.get(spec));
      }
      try (Session s = new Session(g)) {
        Session.Runner runner = s.runner();
        variables.forEach(runner::fetch);
        try (Result r = runner.run()) {
          List<float[]> values = new ArrayList<>();
          for (int i = 0; i < variables.size(); i++) {
            values.add(TensorIO.toFloats(r.get(i)));
          }
          return values;
        }
      }
    }
  }

  private static int countEqual(float[] a, float[] b) {
    int equal = 0;
    for (int i = 0; i < a.length; i++) {
      if (a[i] == b[i]) {
        equal++;
      }
    }
    return equal;
  }

  private static long distinct(float[] values) {
    return java.util.stream.IntStream.range(0, values.length)
        .mapToObj(i -> values[i])
        .distinct()
        .count();
  }
}
