package org.tfdiffusion.testing;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.TestSource;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Prints, at the end of each module's tests, every test that did not run and why: disabled, or
 * skipped by an assumption whose message names what enables it (a package to install). A class
 * whose setup skips all of it is listed once, as "(every test)": its tests never reach the counts.
 * Registered for the JUnit Platform in {@code META-INF/services}; the modules that depend on this
 * test jar get it too.
 */
public final class SkippedTestsReport implements TestExecutionListener {
  private final PrintStream out;
  private final List<Skip> skips = new ArrayList<>();

  /** One test, or a class of them, that did not run. */
  record Skip(String test, String reason) {}

  /** Reports to stdout (the build log). */
  public SkippedTestsReport() {
    this(System.out);
  }

  SkippedTestsReport(PrintStream out) {
    this.out = out;
  }

  @Override
  public synchronized void executionSkipped(TestIdentifier test, String reason) {
    skips.add(new Skip(name(test), reason));
  }

  @Override
  public synchronized void executionFinished(TestIdentifier test, TestExecutionResult result) {
    if (result.getStatus() == TestExecutionResult.Status.ABORTED) {
      String reason =
          result
              .getThrowable()
              .map(Throwable::getMessage)
              .map(m -> m.replaceFirst("^Assumption failed: ", ""))
              .orElse("aborted");
      skips.add(new Skip(name(test), reason));
    }
  }

  @Override
  public synchronized void testPlanExecutionFinished(TestPlan plan) {
    if (!skips.isEmpty()) {
      out.print(summary(skips));
      out.flush();
    }
  }

  /** The report: the number of skips, then each reason with the tests it skipped. */
  static String summary(List<Skip> skips) {
    Map<String, List<String>> byReason = new LinkedHashMap<>();
    for (Skip skip : skips) {
      byReason.computeIfAbsent(skip.reason(), r -> new ArrayList<>()).add(skip.test());
    }
    StringBuilder s =
        new StringBuilder(
            String.format(
                "%nSKIPPED: %d test%s (or classes of tests) did not run here:%n",
                skips.size(), skips.size() == 1 ? "" : "s"));
    byReason.forEach(
        (reason, tests) -> {
          s.append("  ").append(reason.strip().replaceAll("\\s+", " ")).append(":\n");
          tests.forEach(t -> s.append("    ").append(t).append('\n'));
        });
    return s.toString();
  }

  private static String name(TestIdentifier test) {
    TestSource source = test.getSource().orElse(null);
    if (source instanceof MethodSource method) {
      String simple = method.getClassName().substring(method.getClassName().lastIndexOf('.') + 1);
      String display = test.getDisplayName();
      String methodName = method.getMethodName();
      return simple
          + "."
          + methodName
          + (display.startsWith(methodName) || display.equals(methodName + "()")
              ? ""
              : " " + display);
    }
    if (source instanceof ClassSource type) {
      return type.getClassName().substring(type.getClassName().lastIndexOf('.') + 1)
          + " (every test)";
    }
    return test.getDisplayName();
  }
}
