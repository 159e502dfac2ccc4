package org.tfdiffusion.testing;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Assumptions;
import org.tfdiffusion.nn.NativeConv;

/**
 * Guards for tests of {@link NativeConv}'s oneDNN ops, which are built only where g++ and oneDNN
 * are installed ({@code apt-get install g++ libdnnl-dev}): such a test is skipped elsewhere, unless
 * {@value #REQUIRE} is set in the environment (CI sets it), where a missing library fails it.
 */
public final class NativeOps {
  /** The environment variable that turns a missing library from a skip into a failure. */
  public static final String REQUIRE = "TFDIFFUSION_REQUIRE_NATIVE_CONV";

  private NativeOps() {}

  /** Skips the calling test where the library is missing, or fails it where it is required. */
  public static void assumeNativeConv() {
    if (System.getenv(REQUIRE) != null) {
      assertThat(NativeConv.unavailableReason()).as("native convolution ops").isEmpty();
    }
    Assumptions.assumeTrue(
        NativeConv.available(), () -> NativeConv.unavailableReason().orElse("available"));
  }
}
