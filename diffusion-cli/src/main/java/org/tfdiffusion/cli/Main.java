package org.tfdiffusion.cli;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tfdiffusion.cli.bench.BenchCommand;
import org.tfdiffusion.cli.bench.ClusterBenchCommand;
import org.tfdiffusion.cli.eval.EvalCommand;
import org.tfdiffusion.cli.eval.TrainClassifierCommand;
import org.tfdiffusion.cli.export.BenchServeCommand;
import org.tfdiffusion.cli.export.ExportCommand;
import org.tfdiffusion.cli.export.ServeCommand;
import org.tfdiffusion.cli.train.DistillCommand;
import org.tfdiffusion.cli.train.FineTuneCommand;
import org.tfdiffusion.cli.train.TrainCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code tfdiffusion} launcher: one picocli subcommand per task. */
@Command(
    name = "tfdiffusion",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Diffusion models (DDPM) as TensorFlow graphs on the JVM.",
    subcommands = {
      DemoCommand.class,
      ForwardCommand.class,
      SummaryCommand.class,
      BenchCommand.class,
      ClusterBenchCommand.class,
      TrainCommand.class,
      FineTuneCommand.class,
      DistillCommand.class,
      SampleCommand.class,
      ExportCommand.class,
      ServeCommand.class,
      BenchServeCommand.class,
      TrainClassifierCommand.class,
      EvalCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
  /** The option that shows TensorFlow's native log lines (read by the launcher). */
  static final String VERBOSE = "--verbose";

  private static final Pattern SENTENCE_END = Pattern.compile("\\.(\\s|$)");

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** Runs the launcher and exits with its status. */
  public static void main(String[] args) {
    int status = commandLineFor(args).execute(args);
    XlaCache.keep(System.getenv(), System.err);
    LauncherLogFilter.finish(System.getenv(), System.err);
    System.exit(status);
  }

  /** The configured command line (exposed for tests). */
  public static CommandLine commandLine() {
    CommandLine cli = TrainCommand.commandLine(new Main());
    addVerbose(cli);
    cli.getHelpSectionMap()
        .put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_COMMAND_LIST, Main::commandList);
    return cli;
  }

  /**
   * The command line for {@code args}: when they start with a command's name, the launcher with
   * that command alone, the same options, help and errors as in {@link #commandLine()}; else the
   * whole tree (the list of commands, suggestions for a mistyped one). Picocli builds the model of
   * every option of every command it is given: the whole tree took 0.35-0.9 s of each start, one
   * command 0.25 s.
   */
  static CommandLine commandLineFor(String[] args) {
    if (args.length == 0) {
      return commandLine();
    }
    for (Class<?> command : Main.class.getAnnotation(Command.class).subcommands()) {
      Command named = command.getAnnotation(Command.class);
      if (command != CommandLine.HelpCommand.class
          && named != null
          && (named.name().equals(args[0])
              || java.util.List.of(named.aliases()).contains(args[0]))) {
        CommandLine cli = new CommandLine(new Single());
        cli.addSubcommand(command);
        CommandLine configured = TrainCommand.configure(cli);
        addVerbose(configured);
        return configured;
      }
    }
    return commandLine();
  }

  /** The launcher as {@link Main}, without its list of commands ({@link #commandLineFor}). */
  @Command(
      name = "tfdiffusion",
      mixinStandardHelpOptions = true,
      versionProvider = Main.Version.class,
      description = "Diffusion models (DDPM) as TensorFlow graphs on the JVM.")
  static final class Single implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
      spec.commandLine().usage(spec.commandLine().getOut());
    }
  }

  /** The list of commands, each with the first sentence of its description. */
  static String commandList(CommandLine.Help help) {
    Map<String, CommandLine.Help> commands = help.subcommands();
    if (commands.isEmpty()) {
      return "";
    }
    int nameWidth = commands.keySet().stream().mapToInt(String::length).max().orElse(0) + 4;
    int width = help.commandSpec().usageMessage().width();
    CommandLine.Help.TextTable table =
        CommandLine.Help.TextTable.forColumns(
            help.colorScheme(),
            new CommandLine.Help.Column(nameWidth, 2, CommandLine.Help.Column.Overflow.SPAN),
            new CommandLine.Help.Column(
                width - nameWidth, 0, CommandLine.Help.Column.Overflow.WRAP));
    commands.forEach(
        (name, command) ->
            table.addRowValues(
                name, firstSentence(summaryText(command.commandSpec().usageMessage()))));
    return table.toString();
  }

  /** A command's header if it has one (picocli's help command), else its description. */
  private static String summaryText(CommandLine.Model.UsageMessageSpec usage) {
    String[] text = usage.header().length > 0 ? usage.header() : usage.description();
    return String.join(" ", text).replace("%n", " ").strip();
  }

  /** The text up to its first full stop that ends a sentence ("e.g." and "i.e." do not). */
  static String firstSentence(String text) {
    Matcher end = SENTENCE_END.matcher(text);
    while (end.find()) {
      String before = text.substring(0, end.start() + 1);
      if (!before.endsWith("e.g.") && !before.endsWith("i.e.")) {
        return before;
      }
    }
    return text.strip();
  }

  /**
   * {@code --verbose} in every command: the launcher reads it (TensorFlow's native info lines are
   * dropped from stderr without it); the command itself ignores it.
   */
  private static void addVerbose(CommandLine cli) {
    if (cli.getCommandSpec().findOption(VERBOSE) != null) {
      return;
    }
    cli.getCommandSpec()
        .addOption(
            CommandLine.Model.OptionSpec.builder(VERBOSE)
                .type(boolean.class)
                .description("Also show TensorFlow's native info lines (MLIR, XLA, absl).")
                .build());
    cli.getSubcommands().values().stream()
        .filter(sub -> !(sub.getCommandSpec().userObject() instanceof CommandLine.HelpCommand))
        .forEach(Main::addVerbose);
  }

  /** Prints the project and TensorFlow versions. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String own = Main.class.getPackage().getImplementationVersion();
      return new String[] {
        "tfdiffusion " + (own == null ? "(development build)" : own),
        "TensorFlow " + org.tensorflow.TensorFlow.version()
      };
    }
  }
}
