package org.tfdiffusion.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.tfdiffusion.run.DurableFiles;

/** Formatting and atomic writing of evaluation results (JSON, text files, table cells). */
public final class Reports {
  private Reports() {}

  static ObjectMapper json() {
    return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  }

  /** The figures as a JSON object. */
  public static Map<String, Object> toJson(Figures f) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("images", f.images());
    m.put("fd", f.fd());
    m.put("kid_mean", f.kidMean());
    m.put("kid_std", f.kidStd());
    m.put("class_accuracy", f.classAccuracy().orElse(null));
    m.put("predicted_class_histogram", f.histogram());
    if (f.seconds() > 0) {
      m.put("seconds", f.seconds());
      m.put("seconds_per_1000_images", f.secondsPer1000());
    }
    return m;
  }

  /** Writes JSON atomically and durably ({@link DurableFiles#replace}). */
  public static void writeJson(Path file, Object value) {
    try {
      DurableFiles.replace(file, tmp -> json().writeValue(tmp.toFile(), value));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /** Writes text atomically and durably ({@link DurableFiles#replace}). */
  static void writeText(Path file, String text) {
    try {
      DurableFiles.replace(file, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /** A guidance scale for file names and tables: 3 → "3", 1.5 → "1.5". */
  public static String number(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e9) {
      return String.valueOf((long) v);
    }
    return String.format(Locale.ROOT, "%s", v);
  }

  /** FD with 3 decimals. */
  public static String fd(double v) {
    return String.format(Locale.ROOT, "%.3f", v);
  }

  /** KID with 5 decimals. */
  public static String kid(double v) {
    return String.format(Locale.ROOT, "%.5f", v);
  }

  /** An accuracy with 4 decimals, or "-". */
  public static String accuracy(Figures f) {
    return f.classAccuracy().map(a -> String.format(Locale.ROOT, "%.4f", a)).orElse("-");
  }

  /** Seconds with 1 decimal, or "-" for real data. */
  public static String seconds(double v) {
    return v > 0 ? String.format(Locale.ROOT, "%.1f", v) : "-";
  }
}
