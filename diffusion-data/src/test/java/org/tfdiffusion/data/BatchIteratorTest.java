package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class BatchIteratorTest {

  /** n images of 1x2x1; image i is (i % 128, 128 + i % 128), label i % 3. */
  private static ImageDataset dataset(int n) {
    byte[] pixels = new byte[2 * n];
    int[] labels = new int[n];
    for (int i = 0; i < n; i++) {
      pixels[2 * i] = (byte) (i % 128);
      pixels[2 * i + 1] = (byte) (128 + i % 128);
      labels[i] = i % 3;
    }
    return ImageDataset.labelled(1, 2, 1, pixels, labels, List.of("a", "b", "c"), "test");
  }

  private static List<Batch> take(BatchIterator it, int batches) {
    List<Batch> out = new ArrayList<>();
    for (int k = 0; k < batches; k++) {
      out.add(it.next());
    }
    return out;
  }

  private static int[] indices(List<Batch> batches) {
    return batches.stream().flatMapToInt(b -> Arrays.stream(b.indices())).toArray();
  }

  @Test
  void everyImageOncePerEpochAcrossBatchBoundaries() {
    ImageDataset data = dataset(10);
    BatchIterator it = BatchIterator.builder(data).batchSize(3).seed(5).build();
    assertThat(it.position()).isEqualTo(BatchPosition.START);
    List<Batch> batches = take(it, 10); // 30 images: exactly 3 epochs
    assertThat(it.position()).isEqualTo(new BatchPosition(3, 0));
    int[] seen = indices(batches);
    for (int epoch = 0; epoch < 3; epoch++) {
      int[] order = Arrays.copyOfRange(seen, 10 * epoch, 10 * epoch + 10);
      assertThat(order).containsExactlyInAnyOrder(IntStream.range(0, 10).toArray());
      assertThat(order).isEqualTo(BatchIterator.permutation(5, epoch, 10));
    }
    // each row holds the image and label of its index
    for (Batch b : batches) {
      assertThat(b.batchSize()).isEqualTo(3);
      assertThat(b.shape()).containsExactly(3, 1, 2, 1);
      for (int k = 0; k < 3; k++) {
        int i = b.indices()[k];
        assertThat(b.labels()[k]).isEqualTo(i % 3);
        assertThat(b.images()[2 * k]).isEqualTo(ImageDataset.toModelRange(i));
        assertThat(b.images()[2 * k + 1]).isEqualTo(ImageDataset.toModelRange(128 + i));
      }
    }
    BatchIterator partial = BatchIterator.builder(data).batchSize(3).seed(5).build();
    take(partial, 4);
    assertThat(partial.position()).isEqualTo(new BatchPosition(1, 2));
  }

  @Test
  void epochsAndSeedsGiveDifferentOrders() {
    int[] e0 = BatchIterator.permutation(7, 0, 100);
    int[] e1 = BatchIterator.permutation(7, 1, 100);
    int[] e2 = BatchIterator.permutation(7, 2, 100);
    int[] otherSeed = BatchIterator.permutation(8, 0, 100);
    assertThat(e0).isNotEqualTo(e1).isNotEqualTo(e2).isNotEqualTo(otherSeed);
    assertThat(e1).isNotEqualTo(e2);
    assertThat(e0).isNotEqualTo(IntStream.range(0, 100).toArray());
    assertThat(e0).isEqualTo(BatchIterator.permutation(7, 0, 100)); // a pure function
  }

  @Test
  void sameSeedSameSequence() {
    ImageDataset data = dataset(10);
    BatchIterator.Builder settings =
        BatchIterator.builder(data).batchSize(4).seed(42).horizontalFlip(true);
    List<Batch> a = take(settings.build(), 12);
    List<Batch> b = take(settings.build(), 12);
    assertThat(a).isEqualTo(b);
    List<Batch> c = take(settings.seed(43).build(), 12);
    assertThat(indices(c)).isNotEqualTo(indices(a));
  }

  @Test
  void resumingFromASavedPositionReproducesTheContinuation() {
    ImageDataset data = dataset(10);
    BatchIterator.Builder settings =
        BatchIterator.builder(data).batchSize(7).seed(3).horizontalFlip(true);
    BatchIterator uninterrupted = settings.build();
    List<BatchPosition> positions = new ArrayList<>();
    List<Batch> batches = new ArrayList<>();
    for (int k = 0; k < 20; k++) {
      positions.add(uninterrupted.position());
      batches.add(uninterrupted.next());
    }
    for (int k = 0; k < 20; k++) {
      // the position is a plain value: rebuild it as a checkpoint would
      BatchPosition saved = positions.get(k);
      BatchPosition restored = new BatchPosition(saved.epoch(), saved.cursor());
      BatchIterator resumed = settings.startAt(restored).build();
      assertThat(take(resumed, 20 - k)).isEqualTo(batches.subList(k, 20));
    }
  }

  @Test
  void orderAndFlipsDoNotDependOnBatchSize() {
    ImageDataset data = dataset(10);
    BatchIterator.Builder settings = BatchIterator.builder(data).seed(9).horizontalFlip(true);
    List<Batch> fours = take(settings.batchSize(4).build(), 15);
    List<Batch> sixes = take(settings.batchSize(6).build(), 10);
    assertThat(indices(fours)).isEqualTo(indices(sixes));
    assertThat(flips(fours)).isEqualTo(flips(sixes));
  }

  private static List<Boolean> flips(List<Batch> batches) {
    List<Boolean> out = new ArrayList<>();
    for (Batch b : batches) {
      for (boolean f : b.flipped()) {
        out.add(f);
      }
    }
    return out;
  }

  @Test
  void flipsAboutHalfWhenOnAndNeverWhenOff() {
    ImageDataset data = dataset(1000);
    BatchIterator on =
        BatchIterator.builder(data).batchSize(100).seed(1).horizontalFlip(true).build();
    int flipped = 0;
    int total = 0;
    for (Batch b : take(on, 200)) {
      float[] images = b.images();
      for (int k = 0; k < b.batchSize(); k++) {
        int i = b.indices()[k];
        float left = ImageDataset.toModelRange(i % 128);
        float right = ImageDataset.toModelRange(128 + i % 128);
        boolean f = b.flipped()[k];
        assertThat(images[2 * k]).isEqualTo(f ? right : left);
        assertThat(images[2 * k + 1]).isEqualTo(f ? left : right);
        flipped += f ? 1 : 0;
        total++;
      }
    }
    assertThat((double) flipped / total).isBetween(0.48, 0.52);

    BatchIterator off = BatchIterator.builder(data).batchSize(100).seed(1).build();
    for (Batch b : take(off, 20)) {
      assertThat(b.flipped()).doesNotContain(true);
      assertThat(b.images()[0]).isEqualTo(ImageDataset.toModelRange(b.indices()[0] % 128));
    }
  }

  @Test
  void unlabelledDataAndBatchesLargerThanTheDataset() {
    ImageDataset data = ImageDataset.unlabelled(1, 1, 1, new byte[] {0, 1, 2}, "three");
    BatchIterator it = BatchIterator.builder(data).batchSize(8).seed(0).build();
    Batch b = it.next();
    assertThat(b.labelled()).isFalse();
    assertThat(b.labels()).isEmpty();
    // 8 images from 3: epochs 0 and 1 in full, two of epoch 2
    assertThat(it.position()).isEqualTo(new BatchPosition(2, 2));
    assertThat(Arrays.copyOfRange(b.indices(), 0, 3)).containsExactlyInAnyOrder(0, 1, 2);
    assertThat(Arrays.copyOfRange(b.indices(), 3, 6)).containsExactlyInAnyOrder(0, 1, 2);
  }

  @Test
  void batchIsImmutable() {
    Batch b = BatchIterator.builder(dataset(10)).batchSize(2).build().next();
    float first = b.images()[0];
    b.images()[0] = 99;
    b.labels()[0] = 99;
    assertThat(b.images()[0]).isEqualTo(first);
    assertThat(b.labels()[0]).isNotEqualTo(99);
  }

  @Test
  void rejectsBadSettings() {
    ImageDataset data = dataset(10);
    assertThatThrownBy(() -> BatchIterator.builder(data).batchSize(0).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("batchSize must be >= 1");
    assertThatThrownBy(() -> BatchIterator.builder(data).startAt(new BatchPosition(2, 10)).build())
        .hasMessageContaining("past the end of the 10-image dataset")
        .hasMessageContaining("the dataset the position was saved with");
    assertThatThrownBy(() -> new BatchPosition(-1, 0)).hasMessageContaining("epoch must be >= 0");
  }
}
