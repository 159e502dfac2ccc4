package org.tfdiffusion.cli;

import picocli.CommandLine.Option;

/** {@code -q/--quiet}: no progress output (a {@code @Mixin} of the commands that report it). */
public final class QuietOption {
  @Option(
      names = {"-q", "--quiet"},
      description = "No progress output.")
  boolean quiet;

  /** Whether {@code -q} was given. */
  public boolean quiet() {
    return quiet;
  }
}
