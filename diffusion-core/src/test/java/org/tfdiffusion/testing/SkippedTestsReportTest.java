package org.tfdiffusion.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class SkippedTestsReportTest {
  @Test
  void groupsTheSkippedTestsByReason() {
    String needsDnnl = "libtfdconv.so was not built; apt-get install g++ libdnnl-dev";
    assertThat(
            SkippedTestsReport.summary(
                List.of(
                    new SkippedTestsReport.Skip("NativeConvTest (every test)", needsDnnl),
                    new SkippedTestsReport.Skip(
                        "DebianFashionMnistTest.trainSplitByDefault",
                        "needs apt-get install dataset-fashion-mnist"),
                    new SkippedTestsReport.Skip("GroupNormTest.nativeGroupNorm", needsDnnl))))
        .isEqualTo(
            "\nSKIPPED: 3 tests (or classes of tests) did not run here:\n"
                + "  libtfdconv.so was not built; apt-get install g++ libdnnl-dev:\n"
                + "    NativeConvTest (every test)\n"
                + "    GroupNormTest.nativeGroupNorm\n"
                + "  needs apt-get install dataset-fashion-mnist:\n"
                + "    DebianFashionMnistTest.trainSplitByDefault\n");
  }
}
