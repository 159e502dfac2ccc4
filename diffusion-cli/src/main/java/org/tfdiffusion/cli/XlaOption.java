package org.tfdiffusion.cli;

import picocli.CommandLine.Option;

/**
 * {@code --xla}/{@code --no-xla} of the training commands: XLA JIT compilation, on by default (a
 * {@code @Mixin}).
 */
public final class XlaOption {
  /** The option's name, for checking whether it was given. */
  public static final String NAME = "--xla";

  @Option(
      names = NAME,
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description = "Compile with XLA JIT (default: on; --no-xla turns it off).")
  boolean xla;

  /** Whether XLA is on. */
  public boolean xla() {
    return xla;
  }
}
