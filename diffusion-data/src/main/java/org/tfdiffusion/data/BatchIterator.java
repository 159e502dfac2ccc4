package org.tfdiffusion.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.util.Iterator;
import java.util.SplittableRandom;

/**
 * Endless batches of a fixed size from an {@link ImageDataset}, shuffled per epoch and reproducible
 * from a seed.
 *
 * <ul>
 *   <li>Epoch e visits the images in the order {@link #permutation(long, long, int)
 *       permutation(seed, e, n)}: a Fisher-Yates shuffle driven by a {@link SplittableRandom}
 *       seeded from a hash of (seed, e), so it is a pure function of the seed and the epoch.
 *   <li>With horizontal flips on, the image at position p of epoch e is mirrored when {@link
 *       #flips(long, long, int) flips(seed, e, p)}: a hash of (seed, e, p), true half of the time.
 *   <li>Batches run across epoch boundaries: a batch may end with the first images of the next
 *       epoch's permutation, so every batch is full and no image is skipped.
 * </ul>
 *
 * <p>Neither the order nor the flips depend on the batch size: the stream of images is a function
 * of (seed, flip setting, dataset size), and {@link #position()} says where in it the iterator
 * stands. Not thread-safe.
 */
public final class BatchIterator implements Iterator<Batch> {
  /** 2^64 / golden ratio, odd: the increment of SplitMix64. */
  private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

  /** Stream tags, so the permutation and flip hashes of one (seed, epoch) are independent. */
  private static final long PERMUTATION_STREAM = 1;

  private static final long FLIP_STREAM = 2;

  private final ImageDataset dataset;
  private final int batchSize;
  private final long seed;
  private final boolean horizontalFlip;
  private long epoch;
  private int cursor;
  private long permutationEpoch = -1;
  private int[] permutation;

  private BatchIterator(Builder b) {
    this.dataset = b.dataset;
    this.batchSize = b.batchSize;
    this.seed = b.seed;
    this.horizontalFlip = b.horizontalFlip;
    this.epoch = b.start.epoch();
    this.cursor = b.start.cursor();
  }

  /** A builder over {@code dataset}: batch size 32, seed 0, no flips, starting at the start. */
  public static Builder builder(ImageDataset dataset) {
    return new Builder(dataset);
  }

  /** Always true: the iterator runs over as many epochs as asked. */
  @Override
  public boolean hasNext() {
    return true;
  }

  /** The next {@link #batchSize()} images, and their labels when the dataset has them. */
  @Override
  public Batch next() {
    int n = dataset.size();
    int values = dataset.valuesPerImage();
    float[] images = new float[batchSize * values];
    int[] labels = new int[dataset.labelled() ? batchSize : 0];
    int[] indices = new int[batchSize];
    boolean[] flipped = new boolean[batchSize];
    for (int k = 0; k < batchSize; k++) {
      if (cursor == n) {
        epoch++;
        cursor = 0;
      }
      if (permutationEpoch != epoch) {
        permutation = permutation(seed, epoch, n);
        permutationEpoch = epoch;
      }
      int index = permutation[cursor];
      boolean flip = horizontalFlip && flips(seed, epoch, cursor);
      dataset.copyImage(index, images, k * values, flip);
      if (labels.length > 0) {
        labels[k] = dataset.label(index);
      }
      indices[k] = index;
      flipped[k] = flip;
      cursor++;
    }
    if (cursor == n) {
      epoch++;
      cursor = 0;
    }
    return new Batch(
        images,
        labels,
        batchSize,
        dataset.height(),
        dataset.width(),
        dataset.channels(),
        indices,
        flipped);
  }

  /** Where the next batch starts; save it to resume (see {@link BatchPosition}). */
  public BatchPosition position() {
    return new BatchPosition(epoch, cursor);
  }

  public ImageDataset dataset() {
    return dataset;
  }

  public int batchSize() {
    return batchSize;
  }

  public long seed() {
    return seed;
  }

  public boolean horizontalFlip() {
    return horizontalFlip;
  }

  /**
   * The order in which epoch {@code epoch} visits {@code n} images: a Fisher-Yates shuffle of
   * 0..n-1 with a {@link SplittableRandom} seeded by a hash of (seed, epoch).
   */
  public static int[] permutation(long seed, long epoch, int n) {
    int[] order = new int[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    SplittableRandom random = new SplittableRandom(hash(seed, PERMUTATION_STREAM, epoch));
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return order;
  }

  /** Whether the image at position {@code position} of epoch {@code epoch} is mirrored. */
  public static boolean flips(long seed, long epoch, int position) {
    return mix64(hash(seed, FLIP_STREAM, epoch) + (position + 1L) * GOLDEN_GAMMA) < 0;
  }

  private static long hash(long seed, long stream, long epoch) {
    long h = mix64(seed + stream * GOLDEN_GAMMA);
    return mix64(h ^ mix64(epoch + GOLDEN_GAMMA));
  }

  /** SplitMix64's finaliser (Stafford's variant 13): a bijective 64-bit mix. */
  private static long mix64(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** Builds a {@link BatchIterator}; {@link #build()} checks the settings. */
  public static final class Builder {
    private final ImageDataset dataset;
    private int batchSize = 32;
    private long seed = 0;
    private boolean horizontalFlip = false;
    private BatchPosition start = BatchPosition.START;

    private Builder(ImageDataset dataset) {
      this.dataset = checkNotNull(dataset, "dataset must not be null");
    }

    /** Images per batch, >= 1; may exceed the dataset size (batches then span epochs). */
    public Builder batchSize(int batchSize) {
      this.batchSize = batchSize;
      return this;
    }

    /** The seed of the shuffles and flips. */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /** Whether to mirror half of the images left-right (data augmentation). */
    public Builder horizontalFlip(boolean horizontalFlip) {
      this.horizontalFlip = horizontalFlip;
      return this;
    }

    /**
     * Where to start: {@link BatchPosition#START}, or a position saved from {@link #position()}.
     */
    public Builder startAt(BatchPosition start) {
      this.start = checkNotNull(start, "start must not be null; use BatchPosition.START");
      return this;
    }

    public BatchIterator build() {
      checkArgument(batchSize >= 1, "batchSize must be >= 1, got %s", batchSize);
      checkArgument(
          start.cursor() < dataset.size(),
          "start position %s is past the end of the %s-image dataset (%s); resume with the"
              + " dataset the position was saved with",
          start,
          dataset.size(),
          dataset.description());
      return new BatchIterator(this);
    }
  }
}
