package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.data.TestData.idx;
import static org.tfdiffusion.data.TestData.write;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A damaged IDX header must not drive allocation: the sizes it declares are checked against the
 * file's length (or, for gzipped data, against the bytes that actually arrive) before anything of
 * that size is allocated.
 */
class IdxFilesTest {
  @TempDir Path dir;

  /** Far less than the sizes the headers below declare (2 GiB). */
  private static final long ALLOCATION_BOUND = 64L << 20;

  /** 2,700,000 images of 28x28: 2,116,800,000 bytes, just under the largest Java array. */
  private static final int HUGE_COUNT = 2_700_000;

  private static final int SIDE = 28;

  /** The bytes this thread allocates while running {@code body}. */
  private static long allocatedBy(Runnable body) {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = threads.getCurrentThreadAllocatedBytes();
    body.run();
    return threads.getCurrentThreadAllocatedBytes() - before;
  }

  @ParameterizedTest
  @ValueSource(strings = {"", ".gz"})
  void anEightByteLabelsFileIsRefusedWithoutAllocatingItsDeclaredCount(String suffix)
      throws Exception {
    Path file =
        write(
            dir,
            "train-labels-idx1-ubyte" + suffix,
            idx(IdxFiles.LABELS_MAGIC, new int[] {Integer.MAX_VALUE}, new byte[0]));
    long allocated =
        allocatedBy(
            () ->
                assertThatThrownBy(() -> IdxFiles.readLabels(file))
                    .isInstanceOf(DataException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining("truncated")
                    .hasMessageContaining(Integer.MAX_VALUE + " labels")
                    .hasMessageContaining("only 0 bytes follow"));
    assertThat(allocated).isLessThan(ALLOCATION_BOUND);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", ".gz"})
  void aSixteenByteImagesFileIsRefusedWithoutAllocatingItsDeclaredPixels(String suffix)
      throws Exception {
    Path file =
        write(
            dir,
            "train-images-idx3-ubyte" + suffix,
            idx(IdxFiles.IMAGES_MAGIC, new int[] {HUGE_COUNT, SIDE, SIDE}, new byte[0]));
    long allocated =
        allocatedBy(
            () ->
                assertThatThrownBy(() -> IdxFiles.readImages(file))
                    .isInstanceOf(DataException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining(
                        "the header declares "
                            + HUGE_COUNT
                            + " images of 28x28 ("
                            + (long) HUGE_COUNT * SIDE * SIDE
                            + " bytes of data)")
                    .hasMessageContaining("only 0 bytes follow"));
    assertThat(allocated).isLessThan(ALLOCATION_BOUND);
  }

  @Test
  void aGzippedFileThatHoldsLessThanItsHeaderSaysIsReadOnlyAsFarAsItGoes() throws Exception {
    // 3 MB of real data under a header that declares 2.1 GB: the buffer grows with the data only
    int rows = 3 * 1024;
    byte[] body = new byte[rows * SIDE * SIDE];
    Path file =
        write(
            dir,
            "train-images-idx3-ubyte.gz",
            idx(IdxFiles.IMAGES_MAGIC, new int[] {HUGE_COUNT, SIDE, SIDE}, body));
    long allocated =
        allocatedBy(
            () ->
                assertThatThrownBy(() -> IdxFiles.readImages(file))
                    .isInstanceOf(DataException.class)
                    .hasMessageContaining("truncated")
                    .hasMessageContaining("only " + body.length + " bytes follow"));
    assertThat(allocated).isLessThan(ALLOCATION_BOUND);
  }

  @Test
  void impossibleHeadersAreRefusedBeforeAnySizeCheck() throws Exception {
    Path negative =
        write(
            dir,
            "neg-train-images-idx3-ubyte",
            idx(IdxFiles.IMAGES_MAGIC, new int[] {-1, SIDE, SIDE}, new byte[0]));
    assertThatThrownBy(() -> IdxFiles.readImages(negative))
        .isInstanceOf(DataException.class)
        .hasMessageContaining("impossible IDX image header: -1 images of 28x28x1");
    Path labels =
        write(
            dir,
            "neg-train-labels-idx1-ubyte",
            idx(IdxFiles.LABELS_MAGIC, new int[] {-5}, new byte[0]));
    assertThatThrownBy(() -> IdxFiles.readLabels(labels))
        .isInstanceOf(DataException.class)
        .hasMessageContaining("negative label count -5");
  }
}
