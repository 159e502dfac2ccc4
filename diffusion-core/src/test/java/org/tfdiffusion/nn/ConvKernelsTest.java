package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The choice of convolution kernels: names, and where the native ops may not run. */
class ConvKernelsTest {
  @Test
  void parsesTheThreeNamesInAnyCase() {
    assertThat(ConvKernels.parse("auto")).isEqualTo(ConvKernels.AUTO);
    assertThat(ConvKernels.parse(" OneDNN ")).isEqualTo(ConvKernels.ONEDNN);
    assertThat(ConvKernels.parse("TensorFlow")).isEqualTo(ConvKernels.TENSORFLOW);
    assertThatThrownBy(() -> ConvKernels.parse("cudnn"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown convolution kernels 'cudnn': use auto, onednn or tensorflow");
  }

  @Test
  void tensorflowNeverAndAutoNotOnAClusterOrInBfloat16() {
    assertThat(ConvKernels.TENSORFLOW.resolve(false, false)).isFalse();
    assertThat(ConvKernels.AUTO.resolve(true, false)).isFalse();
    assertThat(ConvKernels.AUTO.resolve(false, true)).isFalse();
    assertThat(ConvKernels.AUTO.resolve(false, false)).isEqualTo(NativeConv.available());
  }

  @Test
  void onednnWhereItCannotRunSaysWhyAndWhatToUseInstead() {
    assertThatThrownBy(() -> ConvKernels.ONEDNN.resolve(true, false))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("one process only")
        .hasMessageContaining("--conv tensorflow");
    assertThatThrownBy(() -> ConvKernels.ONEDNN.resolve(false, true))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("float32")
        .hasMessageContaining("--conv tensorflow");
    if (NativeConv.available()) {
      assertThat(ConvKernels.ONEDNN.resolve(false, false)).isTrue();
    } else {
      assertThatThrownBy(() -> ConvKernels.ONEDNN.resolve(false, false))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("apt-get install g++ libdnnl-dev");
    }
  }

  @Test
  void theSummarySaysWhichKernelsAndHowToGetOneDnns() {
    assertThat(ConvKernels.summary(true, java.util.Optional.empty()))
        .isEqualTo("oneDNN's convolutions");
    assertThat(ConvKernels.summary(false, java.util.Optional.empty()))
        .isEqualTo("TensorFlow's Conv2D");
    assertThat(ConvKernels.summary(false, java.util.Optional.of("libtfdconv.so not found")))
        .isEqualTo(
            "TensorFlow's Conv2D (oneDNN's are faster: apt-get install g++ libdnnl-dev, then run"
                + " ./tfdiffusion again to build them)");
  }

  @Test
  void theWinogradSettingIsAutoAllOrOffAndAnyOtherValueNamesThem() {
    assertThat(NativeConv.winograd(null)).isEqualTo("auto");
    assertThat(NativeConv.winograd("")).isEqualTo("auto");
    assertThat(NativeConv.winograd("auto")).isEqualTo("auto");
    assertThat(NativeConv.winograd("all")).isEqualTo("all");
    assertThat(NativeConv.winograd("off")).isEqualTo("off");
    assertThat(NativeConv.winograd("0")).isEqualTo("off");
    assertThatThrownBy(() -> NativeConv.winograd("al"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("TFDIFFUSION_WINOGRAD=al is not a setting: use auto, all or off (or unset it)");
  }
}
