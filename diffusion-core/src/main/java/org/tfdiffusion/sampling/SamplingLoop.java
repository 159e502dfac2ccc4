package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.Loops;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.nn.Parameters;

/**
 * The whole sampling loop as one {@code While} op: one {@code Session.run} turns seeds into
 * finished images. The model's weights enter the loop as loop invariants (they are loop variables
 * the body returns unchanged), so the same model builder that trains builds the body, reading its
 * weights through a {@link BoundParameters} view of the body's inputs.
 *
 * <pre>
 *   x_0 ~ N(0, I) per row from (seed_b, 0)
 *   for i in 0..N-1:   out = model(x, t_i);  x, x̂_0 = step_i(x, out, z_i), z_i per row from (seed_b, i+1)
 * </pre>
 *
 * <p>A {@link Trajectory} generalizes this: a given start x (a start at step k of a plan, image
 * editing) and a hook applied to x after every step (inpainting).
 *
 * <p>Stack: TensorFlow (Java 1.1.0, CPU) runs the {@code While} op's iterations as callbacks nested
 * on the thread that calls {@code Session.run}, about 9 KB of that thread's stack per step whatever
 * the model. Past the end of the stack the JVM dies with SIGSEGV: measured, a 1 MB thread stack
 * (the JVM's default) overflows at 150 steps, 4 MB at 500, 8 MB at 1000, while 16 MB runs 1000. Run
 * long loops on a thread with room for them; the launcher and the tests use {@code -Xss64m}, or use
 * {@link HostLoop}, which does not nest.
 */
public final class SamplingLoop {
  private SamplingLoop() {}

  /** The network as the loop sees it. */
  @FunctionalInterface
  public interface Model {
    /**
     * Builds the model output.
     *
     * @param tf the op factory of the graph or function body being built
     * @param weights the model's weights in this graph or body
     * @param x current samples [B, H, W, C]
     * @param t the timestep of every row, int32 [B]
     * @param conditioning the per-batch inputs given to the loop (labels, guidance scales), in
     *     order
     */
    Operand<TFloat32> apply(
        Ops tf,
        Parameters weights,
        Operand<TFloat32> x,
        Operand<TInt32> t,
        List<Operand<?>> conditioning);
  }

  /**
   * What the loop returns.
   *
   * @param samples the final x, float32 [B, H, W, C] (in [-1, 1] for a well-trained model)
   * @param x0Snapshots when asked for K snapshots: [K, B, H, W, C], snapshot k the x̂_0 of the last
   *     step of the k-th of K equal parts of the loop (a progress strip)
   */
  public record Outputs(Operand<TFloat32> samples, Optional<Operand<TFloat32>> x0Snapshots) {}

  /**
   * Builds the compiled loop.
   *
   * @param imageShape [H, W, C]
   * @param weights the model's weights in the outer graph (variables, or constants of a loaded
   *     export), keyed by weight name
   * @param seeds int64 [B], one per image
   * @param conditioning per-batch tensors carried through the loop for the model
   * @param snapshots 0 for none, else K &gt;= 1 x̂_0 snapshots
   */
  public static Outputs compiled(
      Ops tf,
      SamplingPlan plan,
      Shape imageShape,
      Model model,
      Map<String, ? extends Operand<TFloat32>> weights,
      Operand<TInt64> seeds,
      List<Operand<?>> conditioning,
      int snapshots) {
    return compiled(
        tf, Trajectory.sampling(plan, seeds), imageShape, model, weights, conditioning, snapshots);
  }

  /**
   * Builds the compiled loop for a {@link Trajectory}: its plan's steps, from its start x (or x_T ~
   * N(0, I) per row from (seed_b, 0)), with its hook applied to x after every step. The hook's
   * inputs enter the loop as loop invariants.
   *
   * @param imageShape [H, W, C]
   * @param weights the model's weights in the outer graph, keyed by weight name
   * @param conditioning per-batch tensors carried through the loop for the model
   * @param snapshots 0 for none, else K &gt;= 1 x̂_0 snapshots
   * @throws IllegalArgumentException if the start x does not fit {@code imageShape}, or for
   *     snapshots outside [0, steps]
   */
  public static Outputs compiled(
      Ops tf,
      Trajectory trajectory,
      Shape imageShape,
      Model model,
      Map<String, ? extends Operand<TFloat32>> weights,
      List<Operand<?>> conditioning,
      int snapshots) {
    int steps = trajectory.plan().steps();
    checkArgument(snapshots >= 0 && snapshots <= steps, "snapshots must be in [0, %s]", steps);
    return build(
        tf, trajectory, Optional.empty(), imageShape, model, weights, conditioning, snapshots);
  }

  /**
   * The steps of a run-time choice: the loop runs {@code steps} steps of a table of plans laid end
   * to end ({@link SamplingPlan#concat}), starting at {@code offset}, with DDIM's η given at run
   * time when present.
   *
   * @param offset int32 scalar, where the chosen plan starts in the table
   * @param steps int32 scalar, the chosen plan's N
   * @param eta float32 scalar η (tables with eta terms only)
   */
  public record RuntimeSteps(
      Operand<TInt32> offset, Operand<TInt32> steps, Optional<Operand<TFloat32>> eta) {}

  /** Builds the compiled loop over a plan table with the number of steps chosen at run time. */
  public static Outputs compiled(
      Ops tf,
      SamplingPlan table,
      RuntimeSteps runtime,
      Shape imageShape,
      Model model,
      Map<String, ? extends Operand<TFloat32>> weights,
      Operand<TInt64> seeds,
      List<Operand<?>> conditioning) {
    return build(
        tf,
        Trajectory.sampling(table, seeds),
        Optional.of(runtime),
        imageShape,
        model,
        weights,
        conditioning,
        0);
  }

  /**
   * Builds the compiled loop for a trajectory whose plan is a table of plans laid end to end, the
   * steps chosen at run time: {@code runtime.steps()} entries from {@code runtime.offset()}, from
   * the trajectory's start (an edit whose start step is a request's input, e.g. {@code
   * ImageToImage.atRuntime}). The hook, if any, sees the loop's own step index 0..steps-1.
   */
  public static Outputs compiled(
      Ops tf,
      Trajectory trajectory,
      RuntimeSteps runtime,
      Shape imageShape,
      Model model,
      Map<String, ? extends Operand<TFloat32>> weights,
      List<Operand<?>> conditioning) {
    return build(tf, trajectory, Optional.of(runtime), imageShape, model, weights, conditioning, 0);
  }

  private static Outputs build(
      Ops tf,
      Trajectory trajectory,
      Optional<RuntimeSteps> runtime,
      Shape imageShape,
      Model model,
      Map<String, ? extends Operand<TFloat32>> weights,
      List<Operand<?>> conditioning,
      int snapshots) {
    checkArgument(imageShape.numDimensions() == 3, "image shape is [H, W, C], got %s", imageShape);
    trajectory.checkStartFits(imageShape);
    SamplingPlan plan = trajectory.plan();
    Operand<TInt64> seeds = trajectory.seeds();
    boolean runtimeEta = runtime.isPresent() && runtime.get().eta().isPresent();
    boolean noisy = plan.stochastic() || runtimeEta;
    Ops outer = tf.withSubScope("sample");
    Operand<TFloat32> x = startOf(outer, trajectory, imageShape);
    List<String> names = new ArrayList<>(weights.keySet());
    List<Operand<?>> hookInputs = trajectory.afterStep().map(StepHook::inputs).orElse(List.of());
    // loop variables: i, x, m of the previous step, seeds, offset, N, [η], conditioning...,
    // hook inputs..., weights..., [snapshots], [m two steps back], [m three steps back]; a
    // function body sees nothing else of the outer graph
    List<Operand<?>> vars = new ArrayList<>();
    vars.add(outer.constant(0));
    vars.add(x);
    vars.add(outer.zerosLike(x));
    vars.add(seeds);
    vars.add(runtime.map(RuntimeSteps::offset).orElse(outer.constant(0)));
    vars.add(runtime.map(RuntimeSteps::steps).orElse(outer.constant(plan.steps())));
    int conditioningAt = vars.size();
    if (runtimeEta) {
      vars.add(runtime.get().eta().get());
      conditioningAt++;
    }
    vars.addAll(conditioning);
    int hookAt = vars.size();
    vars.addAll(hookInputs);
    int weightsAt = vars.size();
    for (String name : names) {
      vars.add(weights.get(name));
    }
    int snapshotsAt = vars.size();
    if (snapshots > 0) {
      Operand<TInt32> shape =
          outer.concat(
              List.of(outer.constant(new int[] {snapshots}), outer.shape(x)), outer.constant(0));
      vars.add(
          outer.ensureShape(
              outer.fill(shape, outer.constant(0f)),
              Shape.of(snapshots, -1, imageShape.size(0), imageShape.size(1), imageShape.size(2))));
    }
    boolean deep = plan.deepHistory();
    int twoBackAt = vars.size();
    if (deep) {
      vars.add(outer.zerosLike(x));
    }
    boolean deeper = plan.deeperHistory();
    int threeBackAt = vars.size();
    if (deeper) {
      vars.add(outer.zerosLike(x));
    }
    int conditioningFrom = conditioningAt;
    int conditioningCount = conditioning.size();
    int[] slotOfStep = snapshotSlots(plan.steps(), snapshots);
    List<Output<?>> out =
        Loops.whileLoop(
            outer,
            "sampling",
            vars,
            (f, v) -> f.math.less(RowNoise.int32(v.get(0)), RowNoise.int32(v.get(5))),
            (f, v) -> {
              Operand<TInt32> i = RowNoise.int32(v.get(0));
              Operand<TFloat32> xi = RowNoise.float32(v.get(1));
              Operand<TFloat32> x0Prev = RowNoise.float32(v.get(2));
              Operand<TInt64> rowSeeds = RowNoise.int64(v.get(3));
              Operand<TInt32> index = f.math.add(RowNoise.int32(v.get(4)), i);
              Optional<Operand<TFloat32>> eta =
                  runtimeEta ? Optional.of(RowNoise.float32(v.get(6))) : Optional.empty();
              List<Operand<?>> cond =
                  v.subList(conditioningFrom, conditioningFrom + conditioningCount);
              Map<String, Operand<TFloat32>> bound = new LinkedHashMap<>();
              for (int k = 0; k < names.size(); k++) {
                bound.put(names.get(k), RowNoise.float32(v.get(weightsAt + k)));
              }
              SamplerStep step = new SamplerStep(f, plan);
              Operand<TInt32> t =
                  f.fill(f.shape.size(rowSeeds, f.constant(0)), step.timestep(index));
              Operand<TFloat32> output = model.apply(f, new BoundParameters(bound), xi, t, cond);
              Optional<Operand<TFloat32>> noise =
                  noisy
                      ? Optional.of(
                          RowNoise.normal(
                              f,
                              rowSeeds,
                              f.dtypes.cast(f.math.add(i, f.constant(1)), TInt64.class),
                              imageShape))
                      : Optional.empty();
              Optional<Operand<TFloat32>> twoBack =
                  deep ? Optional.of(RowNoise.float32(v.get(twoBackAt))) : Optional.empty();
              Optional<Operand<TFloat32>> threeBack =
                  deeper ? Optional.of(RowNoise.float32(v.get(threeBackAt))) : Optional.empty();
              SamplerStep.Result r =
                  step.apply(
                      index, xi, output, noise, Optional.of(x0Prev), twoBack, threeBack, eta);
              Operand<TFloat32> after = r.x();
              if (trajectory.afterStep().isPresent()) {
                List<Operand<?>> inputs = v.subList(hookAt, hookAt + hookInputs.size());
                after = trajectory.afterStep().get().apply(f, i, after, rowSeeds, inputs);
              }
              List<Operand<?>> next = new ArrayList<>(v);
              next.set(0, f.math.add(i, f.constant(1)));
              next.set(1, after);
              next.set(2, r.history());
              if (deep) {
                next.set(twoBackAt, x0Prev);
              }
              if (deeper) {
                next.set(threeBackAt, twoBack.get());
              }
              if (snapshots > 0) {
                Operand<TInt32> slot = f.gather(f.constant(slotOfStep), i, f.constant(0));
                Operand<TFloat32> updated =
                    f.tensorScatterNdUpdate(
                        RowNoise.float32(v.get(snapshotsAt)),
                        f.reshape(slot, f.constant(new int[] {1, 1})),
                        f.expandDims(r.x0(), f.constant(0)));
                next.set(snapshotsAt, updated);
              }
              return next;
            });
    Shape batchShape = Shape.of(-1, imageShape.size(0), imageShape.size(1), imageShape.size(2));
    Operand<TFloat32> samples = outer.ensureShape(RowNoise.float32(out.get(1)), batchShape);
    Optional<Operand<TFloat32>> strip =
        snapshots > 0 ? Optional.of(RowNoise.float32(out.get(snapshotsAt))) : Optional.empty();
    return new Outputs(samples, strip);
  }

  /**
   * x before the first step: the trajectory's start broadcast to the rows, or x_T ~ N(0, I) per row
   * from (seed_b, 0). A loop variable keeps its shape, so the start is [B, H, W, C] with B the
   * number of seeds.
   */
  static Operand<TFloat32> startOf(Ops tf, Trajectory trajectory, Shape imageShape) {
    if (trajectory.start().isEmpty()) {
      return RowNoise.normal(tf, trajectory.seeds(), tf.constant(0L), imageShape);
    }
    // [1, H, W, C] or [B, H, W, C] to [B, H, W, C]
    Operand<TInt32> rows =
        tf.reshape(tf.shape.size(trajectory.seeds(), tf.constant(0)), tf.constant(new int[] {1}));
    Operand<TInt32> shape =
        tf.concat(
            List.of(
                rows,
                tf.constant(
                    new int[] {
                      (int) imageShape.get(0), (int) imageShape.get(1), (int) imageShape.get(2)
                    })),
            tf.constant(0));
    return tf.ensureShape(
        tf.broadcastTo(trajectory.start().get(), shape),
        Shape.of(-1, imageShape.get(0), imageShape.get(1), imageShape.get(2)));
  }

  /** Step i writes its x̂_0 into slot floor(i · K / N); the last write of each slot stays. */
  static int[] snapshotSlots(int steps, int snapshots) {
    int[] slots = new int[steps];
    for (int i = 0; i < steps; i++) {
      slots[i] = snapshots == 0 ? 0 : (int) ((long) i * snapshots / steps);
    }
    return slots;
  }

  /** Maps samples from [-1, 1] to [0, 1], clipped. */
  public static Operand<TFloat32> toUnitRange(Ops tf, Operand<TFloat32> samples) {
    return tf.clipByValue(
        tf.math.mul(tf.math.add(samples, tf.constant(1f)), tf.constant(0.5f)),
        tf.constant(0f),
        tf.constant(1f));
  }
}
