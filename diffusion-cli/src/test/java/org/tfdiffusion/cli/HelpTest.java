package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/** The help texts: complete sentences, one default format, the same options where they apply. */
class HelpTest {
  private static final Pattern DEFAULT_WITHOUT_COLON =
      Pattern.compile("\\(default [^:]|Default: |\\(\\d+\\)\\.$");

  private static Map<String, CommandLine> commands() {
    return Main.commandLine().getSubcommands();
  }

  private static String help(String... args) {
    StringWriter out = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    assertThat(cli.execute(args)).isZero();
    return out.toString();
  }

  /** Runs {@code args} on the command line {@code main} starts with them; its stdout and status. */
  private static String run(CommandLine cli, String... args) {
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(out, true));
    int status = cli.execute(args);
    return status + "\n" + out;
  }

  @Test
  void aCommandBuiltAloneHasTheHelpAndErrorsItHasInTheWholeTree() {
    for (Map.Entry<String, CommandLine> command : commands().entrySet()) {
      String name = command.getKey();
      if (name.equals("help")) {
        continue;
      }
      CommandLine alone = Main.commandLineFor(new String[] {name});
      assertThat(alone.getSubcommands().keySet()).as(name).containsExactly(name);
      CommandLine sub = alone.getSubcommands().get(name);
      assertThat(sub.getUsageMessage()).as(name).isEqualTo(command.getValue().getUsageMessage());
      assertThat(sub.getCommandSpec().options().stream().map(OptionSpec::longestName).sorted())
          .as(name)
          .containsExactlyElementsOf(
              command.getValue().getCommandSpec().options().stream()
                  .map(OptionSpec::longestName)
                  .sorted()
                  .toList());
      assertThat(run(Main.commandLineFor(new String[] {name}), name, "--no-such-option"))
          .as(name)
          .isEqualTo(run(Main.commandLine(), name, "--no-such-option"));
    }
    assertThat(Main.commandLineFor(new String[] {"samle"}).getSubcommands())
        .as("a mistyped command gets the whole tree, for its suggestions")
        .containsKeys("sample", "train");
    assertThat(Main.commandLineFor(new String[] {"--help"}).getSubcommands()).containsKey("sample");
  }

  @Test
  void theCommandListGivesEachCommandAWholeSentence() {
    String help = help("--help");
    String list = help.substring(help.indexOf("Commands:\n") + "Commands:\n".length());
    // entries start at column 2; their continuation lines are indented further
    String[] entries = list.split("\n(?=  \\S)");
    assertThat(entries).hasSize(commands().size());
    for (String entry : entries) {
      String text = entry.strip().replaceAll("\\s+", " ");
      assertThat(text).as(text).endsWith(".");
    }
    assertThat(help).contains("  train             Train a DDPM U-Net.\n");
    assertThat(Main.firstSentence("New ones (e.g. a label table) start. More."))
        .isEqualTo("New ones (e.g. a label table) start.");
  }

  @Test
  void descriptionsAreParagraphsNotHardWrappedLines() {
    commands().entrySet().stream()
        .filter(e -> !e.getKey().equals("help")) // picocli's own
        .forEach(
            e -> {
              String name = e.getKey();
              CommandSpec spec = e.getValue().getCommandSpec();
              String[] lines = spec.usageMessage().description();
              for (int i = 0; i < lines.length; i++) {
                boolean beforeAnExample = i + 1 < lines.length && lines[i + 1].startsWith(" ");
                if (!lines[i].isBlank() && !lines[i].startsWith(" ") && !beforeAnExample) {
                  assertThat(lines[i]).as(name).matches("(?s).*[.:)]$");
                }
              }
              for (OptionSpec option : spec.options()) {
                for (String line : option.description()) {
                  assertThat(line).as(name + " " + option.longestName()).matches("(?s).*[.)]$");
                }
              }
            });
  }

  @Test
  void defaultsAreWrittenOneWay() {
    commands()
        .forEach(
            (name, command) -> {
              for (OptionSpec option : command.getCommandSpec().options()) {
                String text = String.join(" ", option.description());
                assertThat(DEFAULT_WITHOUT_COLON.matcher(text).find())
                    .as("%s %s: %s", name, option.longestName(), text)
                    .isFalse();
              }
            });
  }

  @Test
  void everyCommandWithProgressOutputHasQ() {
    for (String name :
        List.of(
            "demo",
            "train",
            "finetune",
            "sample",
            "eval",
            "train-classifier",
            "serve",
            "bench-serve")) {
      OptionSpec q = commands().get(name).getCommandSpec().findOption("-q");
      assertThat(q).as(name).isNotNull();
      assertThat(q.names()).as(name).containsExactly("-q", "--quiet");
    }
  }

  @Test
  void modelCommandsTakeTrainsPresetsAndFinetuneNone() {
    for (String name : List.of("forward", "summary", "bench-cluster")) {
      for (String preset : List.of("demo", "fashion-mnist", "tutorial", "small")) {
        CommandLine.ParseResult parsed = Main.commandLine().parseArgs(name, "--preset", preset);
        assertThat(parsed.subcommand().hasMatchedOption("--preset")).as(name).isTrue();
      }
    }
    assertThat(ModelPreset.Name.DEMO.config().imageSize()).isEqualTo(28);
    assertThat(ModelPreset.Name.FASHION_MNIST.config().baseWidth()).isEqualTo(32);
    CommandSpec finetune = commands().get("finetune").getCommandSpec();
    assertThat(finetune.findOption("--preset")).isNull();
    for (OptionSpec option : finetune.options()) {
      String text = String.join(" ", option.description());
      if (text.contains("the preset's")) {
        assertThat(text).as(option.longestName()).contains("finetune: the parent's");
      }
    }
    assertThat(commands().get("train").getCommandSpec().findOption("--preset")).isNotNull();
  }

  @Test
  void benchHasNoPeerUnlessOneIsGiven() {
    CommandSpec bench = commands().get("bench").getCommandSpec();
    assertThat(bench.findOption("--peer").defaultValue()).isNull();
    assertThat(bench.findOption("--peer-python").defaultValue()).isEqualTo("python3");
  }
}
