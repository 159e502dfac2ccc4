package org.tfdiffusion.export.serving;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/**
 * How a prediction of either API (REST or gRPC) runs: the model version acquired, the signature
 * looked up, the inputs read and checked on the calling thread, then run in a slot of the {@link
 * PredictionQueue}, or merged with others by the {@link BatchScheduler} when batching is on and the
 * signature and size allow; the version stays acquired until the run ends.
 */
final class Predictions implements AutoCloseable {
  private final ModelRegistry registry;
  private final ServingMetrics metrics;
  private final PredictionQueue slots;
  private final Optional<BatchScheduler> batcher;
  private final Duration queueTimeout;
  private final int maxBatch;

  /**
   * @param slots the {@code maxConcurrent} slots that unbatched predictions run in
   * @param batcher the request batching, if it is on
   * @param queueTimeout how long a prediction waits for a slot before 429
   */
  Predictions(
      ModelRegistry registry,
      ServingMetrics metrics,
      PredictionQueue slots,
      Optional<BatchScheduler> batcher,
      Duration queueTimeout,
      int maxBatch) {
    this.registry = registry;
    this.metrics = metrics;
    this.slots = slots;
    this.batcher = batcher;
    this.queueTimeout = queueTimeout;
    this.maxBatch = maxBatch;
  }

  /** The most rows a request may carry. */
  int maxBatch() {
    return maxBatch;
  }

  /** The prediction slots (for other work that must take one, such as interpolation strips). */
  PredictionQueue slots() {
    return slots;
  }

  /**
   * A prediction of either API.
   *
   * @param inputs reads the request's inputs for the signature, checked against it (every input,
   *     types, shapes, at most {@code maxBatch} rows)
   * @return the outputs, checked (finite)
   * @throws ServingException for an unknown model, version or signature, or bad inputs
   */
  CompletableFuture<Map<String, HostTensor>> prediction(
      ClientConnection client,
      String name,
      OptionalLong version,
      Optional<String> signatureName,
      Function<SignatureSpec, Map<String, HostTensor>> inputs,
      RequestFacts facts) {
    ServableModel model = registry.acquire(name, version);
    try {
      facts.version(model.version());
      SignatureSpec signature = model.predictSignature(signatureName);
      facts.signature(signature.key());
      Map<String, HostTensor> fed = inputs.apply(signature);
      int rows = rows(signature, fed);
      facts.rows(rows);
      ValueChecks.checkInputs(model, fed);
      ServableModel running = model;
      CompletableFuture<Map<String, HostTensor>> outputs =
          submit(client, running, signature, fed, rows, facts);
      model = null; // released when the run ends
      outputs.whenComplete((o, e) -> running.release());
      return outputs.thenApply(
          out -> {
            ValueChecks.checkOutputs(running, out);
            return out;
          });
    } finally {
      if (model != null) {
        model.release();
      }
    }
  }

  /**
   * Runs a checked prediction: merged with others by the {@link BatchScheduler} when batching is on
   * and the signature and size allow, else alone in a slot of the {@link PredictionQueue}.
   */
  CompletableFuture<Map<String, HostTensor>> submit(
      ClientConnection client,
      ServableModel model,
      SignatureSpec signature,
      Map<String, HostTensor> inputs,
      int rows,
      RequestFacts facts) {
    if (batcher.isPresent() && BatchScheduler.batchable(signature) && batcher.get().fits(rows)) {
      return batcher.get().submit(client, model, signature, inputs, rows, facts);
    }
    return slots.submit(
        client,
        queueTimeout,
        () -> {
          facts.runRows(rows);
          metrics.recordRun(model.name(), signature.key(), rows);
          return model.predict(signature, inputs);
        });
  }

  /**
   * Runs a prediction in one of the slots, waiting for one if need be (for in-process callers such
   * as the serving benchmark).
   *
   * @throws ServingException 429 when no slot frees within the queue timeout, or the model's error
   */
  Map<String, HostTensor> run(
      ServableModel model, SignatureSpec signature, Map<String, HostTensor> inputs) {
    try {
      return slots
          .submit(ClientConnection.detached(), queueTimeout, () -> model.predict(signature, inputs))
          .join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      if (e.getCause() instanceof Error err) {
        throw err;
      }
      throw e;
    }
  }

  /** The rows of a request: the batch size of its batched inputs (1 when none is batched). */
  static int rows(SignatureSpec signature, Map<String, HostTensor> inputs) {
    for (Map.Entry<String, HostTensor> e : inputs.entrySet()) {
      TensorSpec spec = signature.inputs().get(e.getKey());
      if (spec != null && spec.isBatched()) {
        return Math.toIntExact(e.getValue().batch());
      }
    }
    return 1;
  }

  /** Stops the slots and the batcher. */
  @Override
  public void close() {
    slots.close();
    batcher.ifPresent(BatchScheduler::close);
  }
}
