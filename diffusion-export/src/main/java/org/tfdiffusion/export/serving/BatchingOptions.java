package org.tfdiffusion.export.serving;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Request batching, with TensorFlow Serving's parameters (its {@code --enable_batching} and the
 * fields of {@code --batching_parameters_file}): concurrent predictions of the same model version,
 * signature and non-batched inputs (such as {@code num_steps}) are merged into one graph run and
 * their rows split back.
 *
 * @param enabled whether predictions are batched at all ({@code --enable_batching})
 * @param maxBatchSize the most rows of one merged run ({@code max_batch_size}); a request with more
 *     rows runs alone
 * @param batchTimeout how long a batch that is not full waits for more requests once a thread could
 *     run it ({@code batch_timeout_micros}; 0: run what is queued as soon as a thread is free, so
 *     batches grow only while every thread is busy)
 * @param maxEnqueuedBatches batches' worth of rows that may wait per model, signature and settings
 *     ({@code max_enqueued_batches}); beyond that a request is refused with 429
 * @param numBatchThreads merged runs that run at once ({@code num_batch_threads}; the batching
 *     counterpart of {@code --max-concurrent})
 * @param allowedBatchSizes the sizes a merged run is padded up to, ascending, the last equal to
 *     {@code maxBatchSize} ({@code allowed_batch_sizes}; empty: no padding). Padding rows repeat
 *     the last row and their outputs are dropped.
 */
public record BatchingOptions(
    boolean enabled,
    int maxBatchSize,
    Duration batchTimeout,
    int maxEnqueuedBatches,
    int numBatchThreads,
    List<Integer> allowedBatchSizes) {
  /** TensorFlow Serving's default of {@code max_enqueued_batches}. */
  public static final int MAX_ENQUEUED_BATCHES = 10;

  /** The default of {@code max_batch_size}: the server's default rows per request. */
  public static final int MAX_BATCH_SIZE = 64;

  private static final Pattern WRAPPED =
      Pattern.compile("([a-z_]+)\\s*\\{\\s*value\\s*:\\s*(-?[0-9]+)\\s*\\}");
  private static final Pattern REPEATED = Pattern.compile("([a-z_]+)\\s*:\\s*(\\S+)");

  /**
   * @throws IllegalArgumentException naming the parameter of a value out of range
   */
  public BatchingOptions {
    allowedBatchSizes = List.copyOf(allowedBatchSizes);
    if (maxBatchSize < 1) {
      throw new IllegalArgumentException("max_batch_size must be at least 1, not " + maxBatchSize);
    }
    if (batchTimeout.isNegative()) {
      throw new IllegalArgumentException(
          "batch_timeout_micros must be at least 0, not " + batchTimeout.toNanos() / 1000);
    }
    if (maxEnqueuedBatches < 1) {
      throw new IllegalArgumentException(
          "max_enqueued_batches must be at least 1, not " + maxEnqueuedBatches);
    }
    if (numBatchThreads < 1) {
      throw new IllegalArgumentException(
          "num_batch_threads must be at least 1, not " + numBatchThreads);
    }
    int previous = 0;
    for (int size : allowedBatchSizes) {
      if (size <= previous) {
        throw new IllegalArgumentException(
            "allowed_batch_sizes must be positive and increasing, not " + allowedBatchSizes);
      }
      previous = size;
    }
    if (!allowedBatchSizes.isEmpty() && previous != maxBatchSize) {
      throw new IllegalArgumentException(
          String.format(
              "the last entry of allowed_batch_sizes must equal max_batch_size; it is %d,"
                  + " max_batch_size is %d",
              previous, maxBatchSize));
    }
  }

  /** No batching: every request is its own graph run. */
  public static BatchingOptions disabled() {
    return defaults(Math.max(1, Runtime.getRuntime().availableProcessors()), false);
  }

  /**
   * TensorFlow Serving's defaults except {@code max_batch_size}: {@value #MAX_BATCH_SIZE} rows, no
   * timeout, {@value #MAX_ENQUEUED_BATCHES} enqueued batches, {@code threads} batch threads, no
   * padding.
   */
  public static BatchingOptions defaults(int threads, boolean enabled) {
    return new BatchingOptions(
        enabled, MAX_BATCH_SIZE, Duration.ZERO, MAX_ENQUEUED_BATCHES, threads, List.of());
  }

  /** The rows a merged run of {@code rows} rows is padded to. */
  public int paddedSize(int rows) {
    for (int size : allowedBatchSizes) {
      if (size >= rows) {
        return size;
      }
    }
    return rows;
  }

  /**
   * These options with the fields of a TensorFlow Serving batching parameters file (text format),
   * e.g. {@code max_batch_size { value: 32 }}, {@code allowed_batch_sizes: 16}; fields it does not
   * set keep their values here.
   *
   * @throws IllegalArgumentException for a field this server does not support or a bad value
   * @throws UncheckedIOException when the file cannot be read
   */
  public BatchingOptions withFile(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
    String rest = text.replaceAll("#[^\n]*", "");
    int max = maxBatchSize;
    Duration timeout = batchTimeout;
    int enqueued = maxEnqueuedBatches;
    int threads = numBatchThreads;
    List<Integer> allowed = new ArrayList<>();
    Matcher w = WRAPPED.matcher(rest);
    StringBuilder left = new StringBuilder();
    while (w.find()) {
      long v = Long.parseLong(w.group(2));
      switch (w.group(1)) {
        case "max_batch_size" -> max = Math.toIntExact(v);
        case "batch_timeout_micros" -> timeout = Duration.ofNanos(Math.multiplyExact(v, 1000L));
        case "max_enqueued_batches" -> enqueued = Math.toIntExact(v);
        case "num_batch_threads" -> threads = Math.toIntExact(v);
        default ->
            throw new IllegalArgumentException(
                file
                    + ": "
                    + w.group(1)
                    + " is not supported (supported: max_batch_size, batch_timeout_micros,"
                    + " max_enqueued_batches, num_batch_threads, allowed_batch_sizes)");
      }
      w.appendReplacement(left, " ");
    }
    w.appendTail(left);
    Matcher r = REPEATED.matcher(left);
    StringBuilder unknown = new StringBuilder();
    while (r.find()) {
      if (!r.group(1).equals("allowed_batch_sizes")) {
        throw new IllegalArgumentException(
            file + ": " + r.group(1) + " is not supported (supported: allowed_batch_sizes)");
      }
      try {
        allowed.add(Integer.parseInt(r.group(2)));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            file + ": allowed_batch_sizes must be a whole number, not " + r.group(2));
      }
      r.appendReplacement(unknown, " ");
    }
    r.appendTail(unknown);
    if (!unknown.toString().isBlank()) {
      throw new IllegalArgumentException(
          file
              + ": cannot read '"
              + unknown.toString().strip().lines().findFirst().orElse("")
              + "' (TensorFlow Serving's batching parameters, e.g. max_batch_size { value: 32 })");
    }
    return new BatchingOptions(
        enabled, max, timeout, enqueued, threads, allowed.isEmpty() ? allowedBatchSizes : allowed);
  }

  @Override
  public String toString() {
    return String.format(
        "max_batch_size %d, batch_timeout_micros %d, max_enqueued_batches %d, num_batch_threads"
            + " %d%s",
        maxBatchSize,
        batchTimeout.toNanos() / 1000,
        maxEnqueuedBatches,
        numBatchThreads,
        allowedBatchSizes.isEmpty() ? "" : ", allowed_batch_sizes " + allowedBatchSizes);
  }
}
