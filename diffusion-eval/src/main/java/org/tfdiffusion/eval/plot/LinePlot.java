package org.tfdiffusion.eval.plot;

import static com.google.common.base.Preconditions.checkArgument;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalDouble;
import javax.imageio.ImageIO;

/**
 * Line charts drawn with Java2D and written as PNG: one or more panels side by side, each with
 * axes, ticks and tick labels (a linear or a log₁₀ x axis), a grid, axis labels, a title, lines
 * with markers per series, an optional dashed reference line (for instance the real-data floor) and
 * a legend.
 */
public final class LinePlot {
  /** Width and height of one panel, in pixels. */
  public static final int PANEL_WIDTH = 600;

  public static final int PANEL_HEIGHT = 440;

  private static final int MARGIN_LEFT = 84;
  private static final int MARGIN_RIGHT = 24;
  private static final int MARGIN_TOP = 44;
  private static final int MARGIN_BOTTOM = 58;
  private static final int TICK = 5;
  private static final int MARKER = 7;
  private static final int TARGET_TICKS = 6;

  /** Room around the data on a log axis: a factor 10^0.1. */
  private static final double LOG_PAD = Math.pow(10, 0.1);

  /** Colour-blind-safe palette (Okabe &amp; Ito). */
  private static final Color[] PALETTE = {
    new Color(0, 114, 178),
    new Color(213, 94, 0),
    new Color(0, 158, 115),
    new Color(204, 121, 167),
    new Color(230, 159, 0),
    new Color(86, 180, 233),
    new Color(0, 0, 0)
  };

  private static final Color GRID = new Color(225, 225, 225);
  private static final Color REFERENCE = new Color(110, 110, 110);

  /** One line: points (x_i, y_i); NaN values are skipped. */
  public record Series(String name, double[] x, double[] y) {
    public Series {
      checkArgument(
          x.length == y.length, "series %s: %s x and %s y values", name, x.length, y.length);
      x = x.clone();
      y = y.clone();
    }
  }

  /**
   * One chart.
   *
   * @param reference a horizontal dashed line, e.g. the floor of real data
   */
  public record Panel(
      String title,
      String xLabel,
      String yLabel,
      boolean logX,
      List<Series> series,
      OptionalDouble reference,
      String referenceLabel,
      Optional<double[]> yRange,
      boolean logY) {
    public Panel {
      series = List.copyOf(series);
      yRange.ifPresent(
          r ->
              checkArgument(r.length == 2 && r[0] < r[1], "y range must be [min, max], min < max"));
    }

    /** A panel without a reference line, its y range from the data. */
    public static Panel of(
        String title, String xLabel, String yLabel, boolean logX, List<Series> series) {
      return new Panel(
          title, xLabel, yLabel, logX, series, OptionalDouble.empty(), "", Optional.empty(), false);
    }

    /** The same panel with a dashed reference line at y. */
    public Panel withReference(double y, String label) {
      return new Panel(
          title, xLabel, yLabel, logX, series, OptionalDouble.of(y), label, yRange, logY);
    }

    /**
     * The same panel with a log₁₀ y axis, for figures that span orders of magnitude (points with y
     * &le; 0 are left out).
     */
    public Panel withLogY() {
      return new Panel(
          title, xLabel, yLabel, logX, series, reference, referenceLabel, yRange, true);
    }

    /** The same panel with a fixed y range (e.g. [0, 1] for accuracies). */
    public Panel withYRange(double min, double max) {
      return new Panel(
          title,
          xLabel,
          yLabel,
          logX,
          series,
          reference,
          referenceLabel,
          Optional.of(new double[] {min, max}),
          logY);
    }
  }

  private LinePlot() {}

  /** Draws the panels side by side. */
  public static BufferedImage render(List<Panel> panels) {
    checkArgument(!panels.isEmpty(), "nothing to plot");
    BufferedImage image =
        new BufferedImage(PANEL_WIDTH * panels.size(), PANEL_HEIGHT, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(
          RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, image.getWidth(), image.getHeight());
      for (int i = 0; i < panels.size(); i++) {
        Graphics2D p = (Graphics2D) g.create(i * PANEL_WIDTH, 0, PANEL_WIDTH, PANEL_HEIGHT);
        try {
          drawPanel(p, panels.get(i));
        } finally {
          p.dispose();
        }
      }
    } finally {
      g.dispose();
    }
    return image;
  }

  /** Renders and writes a PNG atomically and durably. */
  public static void write(Path png, List<Panel> panels) {
    BufferedImage image = render(panels);
    try {
      org.tfdiffusion.run.DurableFiles.replace(
          png,
          tmp -> {
            if (!ImageIO.write(image, "png", tmp.toFile())) {
              throw new IOException("no PNG writer");
            }
          });
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + png, e);
    }
  }

  private static void drawPanel(Graphics2D g, Panel panel) {
    int left = MARGIN_LEFT;
    int top = MARGIN_TOP;
    int width = PANEL_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    int height = PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;

    double[] xRange = xRange(panel);
    double[] yRange = yRange(panel);
    Axis xAxis = new Axis(xRange[0], xRange[1], panel.logX(), left, left + width);
    Axis yAxis = new Axis(yRange[0], yRange[1], panel.logY(), top + height, top);

    Font tickFont = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
    Font labelFont = new Font(Font.SANS_SERIF, Font.PLAIN, 14);
    Font titleFont = new Font(Font.SANS_SERIF, Font.BOLD, 15);

    // grid and ticks
    g.setFont(tickFont);
    FontMetrics fm = g.getFontMetrics();
    for (Tick t : xAxis.ticks()) {
      int x = (int) Math.round(xAxis.toPixel(t.value()));
      g.setColor(t.major() ? GRID : new Color(242, 242, 242));
      g.drawLine(x, top, x, top + height);
      g.setColor(Color.DARK_GRAY);
      g.drawLine(x, top + height, x, top + height + (t.major() ? TICK : TICK / 2));
      if (t.label() != null) {
        g.drawString(
            t.label(), x - fm.stringWidth(t.label()) / 2, top + height + TICK + fm.getAscent() + 2);
      }
    }
    for (Tick t : yAxis.ticks()) {
      int y = (int) Math.round(yAxis.toPixel(t.value()));
      g.setColor(t.major() ? GRID : new Color(242, 242, 242));
      g.drawLine(left, y, left + width, y);
      g.setColor(Color.DARK_GRAY);
      g.drawLine(left - (t.major() ? TICK : TICK / 2), y, left, y);
      if (t.label() != null) {
        g.drawString(
            t.label(), left - TICK - 4 - fm.stringWidth(t.label()), y + fm.getAscent() / 2 - 1);
      }
    }
    // frame
    g.setColor(Color.DARK_GRAY);
    g.setStroke(new BasicStroke(1f));
    g.drawRect(left, top, width, height);

    // labels and title
    g.setFont(labelFont);
    fm = g.getFontMetrics();
    g.setColor(Color.BLACK);
    g.drawString(
        panel.xLabel(), left + (width - fm.stringWidth(panel.xLabel())) / 2, PANEL_HEIGHT - 14);
    AffineTransform saved = g.getTransform();
    g.rotate(-Math.PI / 2);
    g.drawString(panel.yLabel(), -(top + (height + fm.stringWidth(panel.yLabel())) / 2), 20);
    g.setTransform(saved);
    g.setFont(titleFont);
    fm = g.getFontMetrics();
    g.drawString(panel.title(), left + (width - fm.stringWidth(panel.title())) / 2, top - 16);

    // reference line
    java.awt.Shape clip = g.getClip();
    g.clipRect(left, top, width + 1, height + 1);
    if (panel.reference().isPresent() && (!panel.logY() || panel.reference().getAsDouble() > 0)) {
      int y = (int) Math.round(yAxis.toPixel(panel.reference().getAsDouble()));
      g.setColor(REFERENCE);
      g.setStroke(
          new BasicStroke(
              1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 5f}, 0f));
      g.drawLine(left, y, left + width, y);
    }
    // series
    for (int s = 0; s < panel.series().size(); s++) {
      Series series = panel.series().get(s);
      g.setColor(PALETTE[s % PALETTE.length]);
      g.setStroke(lineStroke(s));
      Path2D line = new Path2D.Double();
      boolean started = false;
      for (int[] order : sortedByX(series, panel.logY())) {
        int i = order[0];
        double px = xAxis.toPixel(series.x()[i]);
        double py = yAxis.toPixel(series.y()[i]);
        if (!started) {
          line.moveTo(px, py);
          started = true;
        } else {
          line.lineTo(px, py);
        }
      }
      g.draw(line);
      for (int[] order : sortedByX(series, panel.logY())) {
        int i = order[0];
        double px = xAxis.toPixel(series.x()[i]);
        double py = yAxis.toPixel(series.y()[i]);
        g.fill(marker(s, px, py));
      }
    }
    g.setClip(clip);

    drawLegend(g, panel, xAxis, yAxis, new java.awt.Rectangle(left, top, width, height));
  }

  /**
   * The legend, in the corner of the plot area (top right, bottom right, top left, bottom left)
   * that hides the fewest data points and, if it can, not the reference line.
   */
  private static void drawLegend(
      Graphics2D g, Panel panel, Axis xAxis, Axis yAxis, java.awt.Rectangle plot) {
    List<String> names = new ArrayList<>();
    panel.series().forEach(s -> names.add(s.name()));
    boolean reference = panel.reference().isPresent() && !panel.referenceLabel().isEmpty();
    if (reference) {
      names.add(panel.referenceLabel());
    }
    if (names.isEmpty()) {
      return;
    }
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    FontMetrics fm = g.getFontMetrics();
    int textWidth = names.stream().mapToInt(fm::stringWidth).max().orElse(0);
    int row = fm.getHeight() + 2;
    int boxWidth = textWidth + 44;
    int boxHeight = row * names.size() + 8;
    int inset = 8;
    int[][] corners = {
      {plot.x + plot.width - boxWidth - inset, plot.y + inset},
      {plot.x + plot.width - boxWidth - inset, plot.y + plot.height - boxHeight - inset},
      {plot.x + inset, plot.y + inset},
      {plot.x + inset, plot.y + plot.height - boxHeight - inset}
    };
    int x = corners[0][0];
    int y = corners[0][1];
    int best = Integer.MAX_VALUE;
    for (int[] c : corners) {
      java.awt.Rectangle box = new java.awt.Rectangle(c[0], c[1], boxWidth, boxHeight);
      int cost = 0;
      for (Series s : panel.series()) {
        for (int i = 0; i < s.x().length; i++) {
          if (Double.isFinite(s.x()[i])
              && Double.isFinite(s.y()[i])
              && box.contains(xAxis.toPixel(s.x()[i]), yAxis.toPixel(s.y()[i]))) {
            cost += 10;
          }
        }
      }
      if (panel.reference().isPresent()) {
        double ry = yAxis.toPixel(panel.reference().getAsDouble());
        if (ry >= box.y - 2 && ry <= box.y + box.height + 2) {
          cost += 1;
        }
      }
      if (cost < best) {
        best = cost;
        x = c[0];
        y = c[1];
      }
    }
    g.setColor(new Color(255, 255, 255, 230));
    g.fillRect(x, y, boxWidth, boxHeight);
    g.setColor(Color.GRAY);
    g.setStroke(new BasicStroke(1f));
    g.drawRect(x, y, boxWidth, boxHeight);
    for (int i = 0; i < names.size(); i++) {
      int cy = y + 4 + row * i + row / 2;
      boolean isReference = reference && i == names.size() - 1;
      if (isReference) {
        g.setColor(REFERENCE);
        g.setStroke(dashed());
        g.drawLine(x + 6, cy, x + 30, cy);
      } else {
        g.setColor(PALETTE[i % PALETTE.length]);
        g.setStroke(lineStroke(i));
        g.drawLine(x + 6, cy, x + 30, cy);
        g.fill(marker(i, x + 18, cy));
      }
      g.setColor(Color.BLACK);
      g.drawString(names.get(i), x + 36, cy + fm.getAscent() / 2 - 1);
    }
  }

  /**
   * Series past the palette's length keep apart by their line and marker: solid lines with circles
   * for the first round of colours, dashed lines with squares for the second, dotted lines with
   * triangles for the third, then diamonds.
   */
  static int styleRound(int series) {
    return (series / PALETTE.length) % 4;
  }

  private static BasicStroke lineStroke(int series) {
    return switch (styleRound(series)) {
      case 0 -> new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
      case 1 ->
          new BasicStroke(
              2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {8f, 4f}, 0f);
      case 2 ->
          new BasicStroke(
              2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 10f, new float[] {1f, 4f}, 0f);
      default ->
          new BasicStroke(
              2f,
              BasicStroke.CAP_BUTT,
              BasicStroke.JOIN_ROUND,
              10f,
              new float[] {8f, 3f, 2f, 3f},
              0f);
    };
  }

  private static java.awt.Shape marker(int series, double px, double py) {
    double r = MARKER / 2.0;
    return switch (styleRound(series)) {
      case 0 -> new Ellipse2D.Double(px - r, py - r, MARKER, MARKER);
      case 1 -> new java.awt.geom.Rectangle2D.Double(px - r, py - r, MARKER, MARKER);
      case 2 -> {
        Path2D t = new Path2D.Double();
        t.moveTo(px, py - r - 1);
        t.lineTo(px + r + 1, py + r);
        t.lineTo(px - r - 1, py + r);
        t.closePath();
        yield t;
      }
      default -> {
        Path2D d = new Path2D.Double();
        d.moveTo(px, py - r - 1);
        d.lineTo(px + r + 1, py);
        d.lineTo(px, py + r + 1);
        d.lineTo(px - r - 1, py);
        d.closePath();
        yield d;
      }
    };
  }

  private static BasicStroke dashed() {
    return new BasicStroke(
        1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 5f}, 0f);
  }

  /** Indices of the finite points of a series (y &gt; 0 on a log y axis) in increasing x. */
  private static List<int[]> sortedByX(Series s, boolean logY) {
    List<int[]> out = new ArrayList<>();
    for (int i = 0; i < s.x().length; i++) {
      if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i]) && (!logY || s.y()[i] > 0)) {
        out.add(new int[] {i});
      }
    }
    out.sort((a, b) -> Double.compare(s.x()[a[0]], s.x()[b[0]]));
    return out;
  }

  private static double[] xRange(Panel panel) {
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (Series s : panel.series()) {
      for (int i = 0; i < s.x().length; i++) {
        if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i])) {
          checkArgument(
              !panel.logX() || s.x()[i] > 0, "a log x axis needs x > 0, got %s", s.x()[i]);
          min = Math.min(min, s.x()[i]);
          max = Math.max(max, s.x()[i]);
        }
      }
    }
    if (min > max) {
      return panel.logX() ? new double[] {1, 10} : new double[] {0, 1};
    }
    if (panel.logX()) {
      // a fifth of a decade of room on each side, at least one decade in all
      double lo = min / LOG_PAD;
      double hi = max * LOG_PAD;
      if (hi / lo < 10) {
        double mid = Math.sqrt(lo * hi);
        lo = mid / Math.sqrt(10);
        hi = mid * Math.sqrt(10);
      }
      return new double[] {lo, hi};
    }
    return padded(min, max);
  }

  private static double[] yRange(Panel panel) {
    if (panel.yRange().isPresent()) {
      return panel.yRange().get().clone();
    }
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (Series s : panel.series()) {
      for (int i = 0; i < s.y().length; i++) {
        if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i])) {
          min = Math.min(min, s.y()[i]);
          max = Math.max(max, s.y()[i]);
        }
      }
    }
    if (panel.reference().isPresent()) {
      min = Math.min(min, panel.reference().getAsDouble());
      max = Math.max(max, panel.reference().getAsDouble());
    }
    if (panel.logY()) {
      return logYRange(panel);
    }
    if (min > max) {
      return new double[] {0, 1};
    }
    if (min >= 0) {
      min = 0; // quality figures and accuracies read best from zero
    }
    return padded(min, max);
  }

  /** The positive y values' range with a tenth of a decade of room, one decade at least. */
  private static double[] logYRange(Panel panel) {
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (Series s : panel.series()) {
      for (int i = 0; i < s.y().length; i++) {
        if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i]) && s.y()[i] > 0) {
          min = Math.min(min, s.y()[i]);
          max = Math.max(max, s.y()[i]);
        }
      }
    }
    if (panel.reference().isPresent() && panel.reference().getAsDouble() > 0) {
      min = Math.min(min, panel.reference().getAsDouble());
      max = Math.max(max, panel.reference().getAsDouble());
    }
    if (min > max) {
      return new double[] {1, 10};
    }
    double lo = min / LOG_PAD;
    double hi = max * LOG_PAD;
    if (hi / lo < 10) {
      double mid = Math.sqrt(lo * hi);
      lo = mid / Math.sqrt(10);
      hi = mid * Math.sqrt(10);
    }
    return new double[] {lo, hi};
  }

  /** [min, max] widened by 5% of its span (or by 1 around a single value). */
  private static double[] padded(double min, double max) {
    double span = max - min;
    if (span <= 0) {
      double pad = Math.max(Math.abs(min) * 0.1, 1e-9);
      return new double[] {min - pad, max + pad};
    }
    return new double[] {min == 0 ? 0 : min - 0.05 * span, max + 0.05 * span};
  }

  private record Tick(double value, String label, boolean major) {}

  /** A mapping from data to pixels along one axis. */
  private record Axis(double min, double max, boolean log, double from, double to) {
    double toPixel(double v) {
      double f =
          log
              ? (Math.log10(v) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))
              : (v - min) / (max - min);
      return from + f * (to - from);
    }

    List<Tick> ticks() {
      List<Tick> ticks = new ArrayList<>();
      if (log) {
        // labels at 1, 2 and 5 times each power of ten (only at powers of ten past 3 decades),
        // unlabelled minor ticks at the other integers
        boolean wide = Math.log10(max / min) > 3;
        int first = (int) Math.floor(Math.log10(min));
        int last = (int) Math.ceil(Math.log10(max));
        for (int e = first; e <= last; e++) {
          double decade = Math.pow(10, e);
          for (int m = 1; m <= 9; m++) {
            double v = m * decade;
            if (v < min * (1 - 1e-9) || v > max * (1 + 1e-9)) {
              continue;
            }
            boolean labelled = m == 1 || (!wide && (m == 2 || m == 5));
            ticks.add(new Tick(v, labelled ? formatLog(v, e) : null, m == 1));
          }
        }
        return ticks;
      }
      double step = niceStep((max - min) / TARGET_TICKS);
      double first = Math.ceil(min / step - 1e-9) * step;
      for (double v = first; v <= max + step * 1e-9; v += step) {
        double value = Math.abs(v) < step * 1e-9 ? 0 : v;
        ticks.add(new Tick(value, format(value, step), true));
      }
      return ticks;
    }
  }

  /** 1, 2 or 5 times a power of ten, at least {@code raw}. */
  static double niceStep(double raw) {
    double power = Math.pow(10, Math.floor(Math.log10(raw)));
    double f = raw / power;
    double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nice * power;
  }

  /** A tick label with as many decimals as the step needs. */
  static String format(double value, double step) {
    if (Math.abs(value) >= 1e5 || (value != 0 && Math.abs(value) < 1e-4)) {
      return String.format(Locale.ROOT, "%.1e", value);
    }
    int decimals = Math.max(0, (int) Math.ceil(-Math.log10(step) - 1e-9));
    return String.format(Locale.ROOT, "%." + decimals + "f", value);
  }

  /** A label on a log axis: 20, 500, 0.5, or 2e6 outside [1e-3, 1e5]. */
  private static String formatLog(double v, int exponent) {
    if (exponent >= 0 && exponent <= 5) {
      return String.valueOf(Math.round(v));
    }
    if (exponent < 0 && exponent >= -3) {
      return String.format(Locale.ROOT, "%." + (-exponent) + "f", v);
    }
    return String.format(Locale.ROOT, "%.0e", v);
  }
}
