package org.tfdiffusion.data;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * Where a {@link BatchIterator} stands: the next image it hands out is position {@code cursor} of
 * epoch {@code epoch}'s permutation. Save it in a checkpoint; a {@link BatchIterator} built with
 * the same dataset, batch size, seed and flip setting and started at this position continues with
 * exactly the batches the uninterrupted run would have produced.
 *
 * @param epoch passes completed over the dataset, from 0
 * @param cursor images of the current epoch already handed out, in [0, dataset size)
 */
public record BatchPosition(long epoch, int cursor) {

  /** The start of training. */
  public static final BatchPosition START = new BatchPosition(0, 0);

  public BatchPosition {
    checkArgument(epoch >= 0, "epoch must be >= 0, got %s", epoch);
    checkArgument(cursor >= 0, "cursor must be >= 0, got %s", cursor);
  }
}
