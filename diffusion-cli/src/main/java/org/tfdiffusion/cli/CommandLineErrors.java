package org.tfdiffusion.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.Optional;
import org.tfdiffusion.data.DataException;
import org.tfdiffusion.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * How every command reports bad input: one line that names the problem (and, where the message has
 * one, the fix), exit status 2, no stack trace. Bad options get the same one line and the command's
 * {@code --help} instead of the whole usage text.
 */
public final class CommandLineErrors {
  /** The exit status of a user error. */
  public static final int USER_ERROR = 2;

  private static final int MAX_CAUSES = 16;

  private CommandLineErrors() {}

  /**
   * Installs both handlers on {@code cli} (and so on its subcommands), and the check of every
   * floating-point option's range ({@link FloatOptions}) before any command runs.
   */
  public static CommandLine install(CommandLine cli) {
    cli.setExecutionExceptionHandler(CommandLineErrors::execution);
    cli.setParameterExceptionHandler(CommandLineErrors::parameter);
    cli.setExecutionStrategy(FloatOptions.checkedBefore(new CommandLine.RunLast()));
    return cli;
  }

  /** A user error as one line on stderr (status 2); anything else is rethrown. */
  static int execution(Exception e, CommandLine commandLine, CommandLine.ParseResult parseResult)
      throws Exception {
    Optional<String> message = userMessage(e);
    if (message.isEmpty()) {
      throw e;
    }
    commandLine.getErr().println("error: " + oneLine(message.get()));
    commandLine.getErr().flush();
    return USER_ERROR;
  }

  /** A bad option or argument: one line and where the help is. */
  static int parameter(CommandLine.ParameterException e, String[] args) {
    CommandLine commandLine = e.getCommandLine();
    StringBuilder line = new StringBuilder("error: ").append(oneLine(e.getMessage()));
    if (e instanceof CommandLine.UnmatchedArgumentException unmatched
        && !unmatched.getSuggestions().isEmpty()) {
      line.append("; did you mean ")
          .append(String.join(" or ", unmatched.getSuggestions().stream().limit(3).toList()))
          .append('?');
    }
    line.append("; see ").append(helpCommand(commandLine.getCommandSpec()));
    commandLine.getErr().println(line);
    commandLine.getErr().flush();
    return commandLine.getCommandSpec().exitCodeOnInvalidInput();
  }

  /** {@code ./tfdiffusion <command> --help} for the command that was being parsed. */
  static String helpCommand(CommandSpec spec) {
    String name = spec.qualifiedName(" ");
    String launcher = "tfdiffusion";
    String command =
        name.equals(launcher) || name.startsWith(launcher + " ")
            ? "./" + name
            : "./" + launcher + " " + name;
    return command + " --help";
  }

  /**
   * The message of a user error: bad input, bad data, a file that cannot be read or written, a loss
   * that diverged; found in {@code e} or its causes. Empty for anything else (a defect).
   */
  static Optional<String> userMessage(Throwable e) {
    Throwable t = e;
    for (int depth = 0; t != null && depth < MAX_CAUSES; depth++, t = t.getCause()) {
      if (t instanceof UncheckedIOException u) {
        return Optional.of(withCause(u.getMessage(), u.getCause()));
      }
      if (t instanceof IOException io) {
        return Optional.of(describe(io));
      }
      if (t instanceof DataException
          || t instanceof IllegalArgumentException
          || t instanceof IllegalStateException
          || t instanceof Trainer.NonFiniteLossException) {
        return Optional.of(t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
      }
    }
    return Optional.empty();
  }

  /** {@code message}, followed by what the cause says when the message does not say it. */
  private static String withCause(String message, IOException cause) {
    String reason = cause == null ? null : describe(cause);
    if (message == null || message.isBlank()) {
      return reason == null ? "input or output failed" : reason;
    }
    String own = message.strip();
    if (reason == null || own.contains(reason) || reason.contains(own)) {
      return own;
    }
    return own + ": " + reason;
  }

  /** What went wrong with a file, in words (the JDK's messages of some are only the path). */
  private static String describe(IOException e) {
    if (e instanceof NoSuchFileException f) {
      return "no such file or folder: " + f.getFile();
    }
    if (e instanceof AccessDeniedException f) {
      return "permission denied: " + f.getFile();
    }
    if (e instanceof FileSystemException f) {
      return f.getMessage();
    }
    return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
  }

  private static String oneLine(String message) {
    return message.strip().replaceAll("\\s*\\R\\s*", " ");
  }
}
