package org.tfdiffusion.cli.eval;

import java.util.List;
import picocli.CommandLine.Model.CommandSpec;

/** How a command was called, for the records that evaluation and training write. */
final class CommandLines {
  private CommandLines() {}

  /**
   * The command's name and its arguments, e.g. {@code eval --run runs/x --n 1000}, whether it ran
   * on its own or as a subcommand of the launcher (whose arguments start with the command's name).
   */
  public static String describe(CommandSpec spec) {
    List<String> args = spec.commandLine().getParseResult().originalArgs();
    int at = args.indexOf(spec.name());
    List<String> own = at >= 0 ? args.subList(at + 1, args.size()) : args;
    return own.isEmpty() ? spec.name() : spec.name() + " " + String.join(" ", own);
  }
}
