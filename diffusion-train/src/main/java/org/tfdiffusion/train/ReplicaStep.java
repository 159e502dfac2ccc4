package org.tfdiffusion.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.tensorflow.ConcreteFunction;
import org.tensorflow.Operand;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.GaussianDiffusion;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.ParameterSpec;
import org.tfdiffusion.nn.Parameters;
import org.tfdiffusion.run.TrainConfig;

/**
 * One replica's forward and backward pass of a data-parallel training step, as a graph function of
 * the replica's weights and its shard of the batch:
 *
 * <pre>
 *   (θ, x_0, t, ε, y, dropout seed)  ->  (loss = p_losses(ε_θ, x_0, t, ε),  g = ∇_θ loss)
 * </pre>
 *
 * Why a function: TensorFlow's C API adds gradient ops without a device ({@code
 * TF_AddGradientsWithPrefix} ignores the scope's device), so in one graph spanning several tasks
 * the backward pass of every replica would be placed on the chief. A {@code PartitionedCall} of
 * this function placed on a replica's device runs the whole body there (TensorFlow inlines it and
 * gives the body's unplaced ops the call's device; checked with step stats of a two-task run).
 *
 * <p>The body is the training graph's own loss ({@link GaussianDiffusion#pLosses} on the {@link
 * UNet}), with the weights read through {@link Parameters} bound to the function's inputs.
 */
final class ReplicaStep implements AutoCloseable {
  private static final AtomicLong IDS = new AtomicLong();

  private final ConcreteFunction function;
  private final List<ParameterSpec> specs;
  private final List<String> trainable;

  /** One replica's inputs: its rows of the batch and of the step's random draws. */
  record Shard(
      Operand<TFloat32> images,
      Operand<TInt32> t,
      Operand<TFloat32> noise,
      Optional<Operand<TInt32>> labels,
      Optional<Operand<TInt64>> dropoutSeed) {}

  /** One replica's outputs: its shard's mean loss and the gradients of the trainable weights. */
  record Output(Operand<TFloat32> loss, Map<String, Operand<TFloat32>> gradients) {}

  private ReplicaStep(
      ConcreteFunction function, List<ParameterSpec> specs, List<String> trainable) {
    this.function = function;
    this.specs = specs;
    this.trainable = trainable;
  }

  /**
   * Builds the function.
   *
   * @param shardSize the rows of the batch each replica gets
   * @param trainable which weights get a gradient (fine-tuning freezes the others)
   */
  static ReplicaStep build(
      TrainConfig config, UNet unet, int shardSize, Predicate<String> trainable) {
    UNetConfig model = config.model();
    List<ParameterSpec> specs = new ArrayList<>();
    List<String> trainableNames = new ArrayList<>();
    ConcreteFunction function =
        ConcreteFunction.create(
            f -> {
              Shape images =
                  Shape.of(shardSize, model.imageSize(), model.imageSize(), model.channels());
              Placeholder<TFloat32> x = f.placeholder(TFloat32.class, Placeholder.shape(images));
              Placeholder<TInt32> t =
                  f.placeholder(TInt32.class, Placeholder.shape(Shape.of(shardSize)));
              Placeholder<TFloat32> noise =
                  f.placeholder(TFloat32.class, Placeholder.shape(images));
              Optional<Placeholder<TInt32>> y =
                  model.conditional()
                      ? Optional.of(
                          f.placeholder(TInt32.class, Placeholder.shape(Shape.of(shardSize))))
                      : Optional.empty();
              Optional<Placeholder<TInt64>> dropoutSeed =
                  model.dropout() > 0
                      ? Optional.of(f.placeholder(TInt64.class, Placeholder.shape(Shape.of(2))))
                      : Optional.empty();
              // every weight the model reads becomes an input, in the order it is read
              Map<String, Placeholder<TFloat32>> inputs = new LinkedHashMap<>();
              Parameters weights =
                  spec ->
                      inputs.computeIfAbsent(
                          spec.name(),
                          n -> {
                            specs.add(spec);
                            return f.placeholder(TFloat32.class, Placeholder.shape(spec.shape()));
                          });
              NetScope scope =
                  dropoutSeed.isPresent()
                      ? NetScope.training(f, weights, dropoutSeed.get())
                      : NetScope.inference(f, weights);
              Optional<Operand<TInt32>> labels = y.map(l -> (Operand<TInt32>) l);
              GaussianDiffusion diffusion = new GaussianDiffusion(f, config.noiseSchedule());
              Operand<TFloat32> loss =
                  diffusion
                      .pLosses(
                          (xt, tt) -> unet.apply(scope, xt, tt, labels),
                          config.predictionType(),
                          config.loss(),
                          x,
                          t,
                          noise)
                      .value();
              List<Operand<TFloat32>> wrt = new ArrayList<>();
              for (ParameterSpec spec : specs) {
                if (trainable.test(spec.name())) {
                  trainableNames.add(spec.name());
                  wrt.add(inputs.get(spec.name()));
                }
              }
              if (wrt.isEmpty()) {
                throw new IllegalArgumentException(
                    "every weight is frozen (--freeze "
                        + config.fineTune().frozen()
                        + "): nothing to train");
              }
              Gradients gradients = f.gradients(loss, wrt);
              Signature.Builder s =
                  Signature.builder()
                      .key("replica_step_" + IDS.incrementAndGet())
                      .input("images", x)
                      .input("t", t)
                      .input("noise", noise);
              y.ifPresent(l -> s.input("labels", l));
              dropoutSeed.ifPresent(d -> s.input("dropout_seed", d));
              for (int i = 0; i < specs.size(); i++) {
                s.input(key("w", i), inputs.get(specs.get(i).name()));
              }
              s.output("loss", loss);
              for (int i = 0; i < wrt.size(); i++) {
                s.output(key("g", i), gradients.<TFloat32>dy(i));
              }
              return s.build();
            });
    return new ReplicaStep(function, List.copyOf(specs), List.copyOf(trainableNames));
  }

  /** Every weight the model reads, in the order it reads them. */
  List<ParameterSpec> specs() {
    return specs;
  }

  /** The weights that get a gradient, in the same order. */
  List<String> trainable() {
    return trainable;
  }

  /**
   * Adds a call of the step to the graph of {@code tf}, on {@code tf}'s device.
   *
   * @param weights the replica's weights, by name (every name of {@link #specs()})
   */
  @SuppressWarnings("unchecked")
  Output call(Ops tf, Map<String, ? extends Operand<TFloat32>> weights, Shard shard) {
    Map<String, Operand<?>> arguments = new LinkedHashMap<>();
    arguments.put("images", shard.images());
    arguments.put("t", shard.t());
    arguments.put("noise", shard.noise());
    shard.labels().ifPresent(l -> arguments.put("labels", l));
    shard.dropoutSeed().ifPresent(d -> arguments.put("dropout_seed", d));
    for (int i = 0; i < specs.size(); i++) {
      Operand<TFloat32> w = weights.get(specs.get(i).name());
      if (w == null) {
        throw new IllegalArgumentException("no weight " + specs.get(i).name() + " for the replica");
      }
      arguments.put(key("w", i), w);
    }
    Map<String, Operand<?>> out = function.call(tf, arguments);
    Map<String, Operand<TFloat32>> gradients = new LinkedHashMap<>();
    for (int i = 0; i < trainable.size(); i++) {
      gradients.put(trainable.get(i), (Operand<TFloat32>) out.get(key("g", i)));
    }
    return new Output((Operand<TFloat32>) out.get("loss"), gradients);
  }

  /** Zero-padded keys keep the inputs in order however the signature map is iterated. */
  private static String key(String prefix, int i) {
    return String.format("%s%04d", prefix, i);
  }

  @Override
  public void close() {
    function.close();
  }
}
