package org.tfdiffusion.sampling;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntConsumer;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.nn.Parameters;

/**
 * The sampling loop driven from Java, one {@code Session.run} per step: slower than {@link
 * SamplingLoop#compiled the compiled loop}, kept for comparison, debugging and progress bars. It
 * draws the same noise (per row, from (seed_b, i + 1)) and applies the same {@link SamplerStep}, so
 * both loops give the same images.
 */
public final class HostLoop {
  private final SamplingPlan plan;
  private final Optional<Placeholder<TInt64>> ownSeeds;
  private final Placeholder<TInt32> index;
  private final Placeholder<TFloat32> x;
  private final Placeholder<TFloat32> x0Prev;
  private final Optional<Placeholder<TFloat32>> x0Prev2;
  private final Optional<Placeholder<TFloat32>> x0Prev3;
  private final Operand<TFloat32> initial;
  private final SamplerStep.Result step;
  private final Operand<TFloat32> after;

  /**
   * Builds the step graph for plain sampling, with its own seeds placeholder ({@link #run(Session,
   * TInt64, Map, IntConsumer)} feeds it).
   *
   * @param weights the model's weights in this graph
   * @param conditioning placeholders (or constants) for the model's per-batch inputs; the caller
   *     feeds them on {@link #run}
   */
  public HostLoop(
      Ops tf,
      SamplingPlan plan,
      Shape imageShape,
      SamplingLoop.Model model,
      Parameters weights,
      List<Operand<?>> conditioning) {
    this(tf, Optional.empty(), plan, imageShape, model, weights, conditioning);
  }

  /**
   * Builds the step graph for a {@link Trajectory}: its plan's steps from its start x, its hook
   * applied after every step. The trajectory's seeds and whatever its start and hook read
   * (placeholders for an image, a mask) are fed by the caller on {@link #run(Session, Map,
   * IntConsumer)}.
   *
   * @throws IllegalArgumentException if the start x does not fit {@code imageShape}
   */
  public HostLoop(
      Ops tf,
      Trajectory trajectory,
      Shape imageShape,
      SamplingLoop.Model model,
      Parameters weights,
      List<Operand<?>> conditioning) {
    this(tf, Optional.of(trajectory), trajectory.plan(), imageShape, model, weights, conditioning);
  }

  private HostLoop(
      Ops tf,
      Optional<Trajectory> given,
      SamplingPlan plan,
      Shape imageShape,
      SamplingLoop.Model model,
      Parameters weights,
      List<Operand<?>> conditioning) {
    Ops ops = tf.withSubScope("host_sample");
    Shape batch = Shape.of(-1, imageShape.size(0), imageShape.size(1), imageShape.size(2));
    this.plan = plan;
    this.ownSeeds =
        given.isPresent()
            ? Optional.empty()
            : Optional.of(ops.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1))));
    Trajectory trajectory = given.orElseGet(() -> Trajectory.sampling(plan, ownSeeds.get()));
    trajectory.checkStartFits(imageShape);
    Operand<TInt64> seeds = trajectory.seeds();
    this.index = ops.placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
    this.x = ops.placeholder(TFloat32.class, Placeholder.shape(batch));
    this.x0Prev = ops.placeholder(TFloat32.class, Placeholder.shape(batch));
    this.x0Prev2 =
        plan.deepHistory()
            ? Optional.of(ops.placeholder(TFloat32.class, Placeholder.shape(batch)))
            : Optional.empty();
    this.x0Prev3 =
        plan.deeperHistory()
            ? Optional.of(ops.placeholder(TFloat32.class, Placeholder.shape(batch)))
            : Optional.empty();
    this.initial = SamplingLoop.startOf(ops, trajectory, imageShape);
    SamplerStep sampler = new SamplerStep(ops, plan);
    Operand<TInt32> t = ops.fill(ops.shape.size(seeds, ops.constant(0)), sampler.timestep(index));
    Operand<TFloat32> output = model.apply(ops, weights, x, t, conditioning);
    Optional<Operand<TFloat32>> noise =
        plan.stochastic()
            ? Optional.of(
                RowNoise.normal(
                    ops,
                    seeds,
                    ops.dtypes.cast(ops.math.add(index, ops.constant(1)), TInt64.class),
                    imageShape))
            : Optional.empty();
    this.step =
        sampler.apply(
            index,
            x,
            output,
            noise,
            Optional.of(x0Prev),
            x0Prev2.map(p -> (Operand<TFloat32>) p),
            x0Prev3.map(p -> (Operand<TFloat32>) p),
            Optional.empty());
    this.after =
        trajectory
            .afterStep()
            .map(h -> h.apply(ops, index, step.x(), seeds, h.inputs()))
            .orElse(step.x());
  }

  public SamplingPlan plan() {
    return plan;
  }

  /**
   * Runs all steps of plain sampling (a loop built without a {@link Trajectory}).
   *
   * @param seedValues int64 [B]
   * @param feeds values for the conditioning placeholders
   * @param afterStep called with the number of finished steps (for a progress bar)
   * @return the final samples, [B, H, W, C]; the caller closes it
   * @throws IllegalStateException for a loop built for a trajectory (its seeds are fed with the
   *     other feeds)
   */
  public TFloat32 run(
      Session session, TInt64 seedValues, Map<Operand<?>, Tensor> feeds, IntConsumer afterStep) {
    Placeholder<TInt64> seeds =
        ownSeeds.orElseThrow(
            () ->
                new IllegalStateException(
                    "this loop samples a trajectory: feed its seeds with the other feeds"));
    Map<Operand<?>, Tensor> all = new java.util.LinkedHashMap<>(feeds);
    all.put(seeds, seedValues);
    return run(session, all, afterStep);
  }

  /**
   * Runs all steps.
   *
   * @param feeds values for every placeholder the loop reads: the trajectory's seeds, the model's
   *     conditioning, the start's and the hook's inputs
   * @param afterStep called with the number of finished steps (for a progress bar)
   * @return the final samples, [B, H, W, C]; the caller closes it
   */
  public TFloat32 run(Session session, Map<Operand<?>, Tensor> feeds, IntConsumer afterStep) {
    TFloat32 current = null;
    // m_{i-1}, m_{i-2} and m_{i-3}, the model outputs the multistep terms use (any value before
    // they exist)
    TFloat32 previous = null;
    TFloat32 twoBack = null;
    TFloat32 threeBack = null;
    try {
      Session.Runner first = session.runner();
      feeds.forEach(first::feed);
      try (Result r = first.fetch(initial).run()) {
        current = copy(r, 0);
      }
      previous = copy(current);
      twoBack = copy(current);
      threeBack = copy(current);
      for (int i = 0; i < plan.steps(); i++) {
        try (TInt32 idx = TInt32.scalarOf(i)) {
          Session.Runner runner =
              session.runner().feed(index, idx).feed(x, current).feed(x0Prev, previous);
          if (x0Prev2.isPresent()) {
            runner.feed(x0Prev2.get(), twoBack);
          }
          if (x0Prev3.isPresent()) {
            runner.feed(x0Prev3.get(), threeBack);
          }
          feeds.forEach(runner::feed);
          try (Result r = runner.fetch(after).fetch(step.history()).run()) {
            TFloat32 next = copy(r, 0);
            TFloat32 nextPrevious;
            try {
              nextPrevious = copy(r, 1);
            } catch (RuntimeException e) {
              next.close();
              throw e;
            }
            current.close();
            threeBack.close();
            threeBack = twoBack;
            twoBack = previous;
            previous = nextPrevious;
            current = next;
          }
        }
        afterStep.accept(i + 1);
      }
      TFloat32 samples = current;
      current = null; // the caller's now
      return samples;
    } finally {
      // on success the three history tensors; after a failed step or an interrupted progress
      // callback every tensor this loop still holds
      for (TFloat32 t : new TFloat32[] {current, previous, twoBack, threeBack}) {
        if (t != null) {
          t.close();
        }
      }
    }
  }

  /** Detaches output i from a Result (which closes its tensors) by copying it. */
  private static TFloat32 copy(Result r, int i) {
    return copy((TFloat32) r.get(i));
  }

  private static TFloat32 copy(TFloat32 t) {
    TFloat32 out = TFloat32.tensorOf(t.shape());
    t.copyTo(out);
    return out;
  }
}
