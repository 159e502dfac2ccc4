package org.tfdiffusion.eval.plot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.Test;

class LinePlotTest {

  @Test
  void tickStepsAreOneTwoOrFiveTimesAPowerOfTen() {
    assertThat(LinePlot.niceStep(0.37)).isEqualTo(0.5);
    assertThat(LinePlot.niceStep(12)).isEqualTo(20);
    assertThat(LinePlot.niceStep(0.001)).isEqualTo(0.001);
    assertThat(LinePlot.niceStep(7)).isEqualTo(10);
    assertThat(LinePlot.format(0.5, 0.1)).isEqualTo("0.5");
    assertThat(LinePlot.format(40, 20)).isEqualTo("40");
    assertThat(LinePlot.format(0.00002, 0.00001)).isEqualTo("2.0e-05");
  }

  @Test
  void aPointLandsWhereTheLogAxisPutsIt() {
    // one series with a single point at x = 100 on a log axis from 10 to 1000: the marker sits
    // in the middle of the plot area horizontally
    LinePlot.Panel panel =
        LinePlot.Panel.of(
            "t",
            "x",
            "y",
            true,
            List.of(
                new LinePlot.Series("a", new double[] {10, 100, 1000}, new double[] {1, 2, 3})));
    BufferedImage image = LinePlot.render(List.of(panel));
    int plotLeft = 84;
    int plotRight = LinePlot.PANEL_WIDTH - 24;
    int middle = (plotLeft + plotRight) / 2;
    int found = -1;
    for (int x = middle - 3; x <= middle + 3 && found < 0; x++) {
      for (int y = 44; y < LinePlot.PANEL_HEIGHT - 58; y++) {
        if ((image.getRGB(x, y) & 0xFFFFFF) == 0x0072B2) {
          found = x;
          break;
        }
      }
    }
    assertThat(found).as("series colour near the middle column").isPositive();
  }

  @Test
  void theReferenceLineIsDrawnDashed() {
    LinePlot.Panel panel =
        LinePlot.Panel.of(
                "t",
                "x",
                "y",
                false,
                List.of(new LinePlot.Series("a", new double[] {0, 1}, new double[] {1, 1})))
            .withReference(0.5, "floor");
    BufferedImage image = LinePlot.render(List.of(panel));
    int grey = 0;
    for (int y = 0; y < image.getHeight(); y++) {
      for (int x = 0; x < image.getWidth(); x++) {
        if ((image.getRGB(x, y) & 0xFFFFFF) == 0x6E6E6E) {
          grey++;
        }
      }
    }
    assertThat(grey).isGreaterThan(100);
  }

  @Test
  void aLogAxisRefusesNonPositiveX() {
    LinePlot.Panel panel =
        LinePlot.Panel.of(
            "t",
            "x",
            "y",
            true,
            List.of(new LinePlot.Series("a", new double[] {0}, new double[] {1})));
    assertThatThrownBy(() -> LinePlot.render(List.of(panel)))
        .hasMessageContaining("log x axis needs x > 0");
  }

  /**
   * On a log y axis from about 10 to 1000, a point at y = 100 sits in the middle row of the plot
   * area; a point at y = 0 is left out instead of failing.
   */
  @Test
  void aPointLandsWhereTheLogYAxisPutsIt() {
    LinePlot.Panel panel =
        LinePlot.Panel.of(
                "t",
                "x",
                "y",
                false,
                List.of(
                    new LinePlot.Series(
                        "a", new double[] {1, 2, 3, 4}, new double[] {10, 100, 1000, 0})))
            .withLogY();
    BufferedImage image = LinePlot.render(List.of(panel));
    int plotTop = 44;
    int plotBottom = LinePlot.PANEL_HEIGHT - 58;
    int middle = (plotTop + plotBottom) / 2;
    int found = -1;
    for (int y = middle - 3; y <= middle + 3 && found < 0; y++) {
      for (int x = 84; x < LinePlot.PANEL_WIDTH - 24; x++) {
        if ((image.getRGB(x, y) & 0xFFFFFF) == 0x0072B2) {
          found = y;
          break;
        }
      }
    }
    assertThat(found).as("series colour near the middle row").isPositive();
  }

  /** The eighth series shares the first one's colour but not its marker and line. */
  @Test
  void seriesPastThePaletteKeepApartByMarkerAndLine() {
    assertThat(LinePlot.styleRound(0)).isZero();
    assertThat(LinePlot.styleRound(6)).isZero();
    assertThat(LinePlot.styleRound(7)).isEqualTo(1);
    assertThat(LinePlot.styleRound(14)).isEqualTo(2);
    List<LinePlot.Series> series = new java.util.ArrayList<>();
    for (int i = 0; i < 8; i++) {
      series.add(new LinePlot.Series("s" + i, new double[] {1, 2}, new double[] {i, i}));
    }
    BufferedImage eight = LinePlot.render(List.of(LinePlot.Panel.of("t", "x", "y", false, series)));
    // the eighth series (y = 7, the first colour) is drawn dashed: along its row, the first
    // colour has gaps between the markers
    int blue = 0;
    int gaps = 0;
    int row = -1;
    for (int y = 44; y < LinePlot.PANEL_HEIGHT - 58 && row < 0; y++) {
      int count = 0;
      for (int x = 84; x < LinePlot.PANEL_WIDTH - 24; x++) {
        count += (eight.getRGB(x, y) & 0xFFFFFF) == 0x0072B2 ? 1 : 0;
      }
      if (count > 100) {
        row = y;
      }
    }
    assertThat(row).as("a row drawn in the first colour").isPositive();
    boolean inLine = false;
    for (int x = 150; x < LinePlot.PANEL_WIDTH - 100; x++) {
      boolean isBlue = (eight.getRGB(x, row) & 0xFFFFFF) == 0x0072B2;
      blue += isBlue ? 1 : 0;
      if (inLine && !isBlue) {
        gaps++;
      }
      inLine = isBlue;
    }
    assertThat(blue).isPositive();
    assertThat(gaps).as("the top line is the dashed eighth series").isGreaterThan(5);
  }
}
