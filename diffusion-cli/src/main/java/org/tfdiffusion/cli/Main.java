package org.tfdiffusion.cli;

import org.tfdiffusion.eval.EvalCommand;
import org.tfdiffusion.eval.classifier.TrainClassifierCommand;
import org.tfdiffusion.export.ExportCommand;
import org.tfdiffusion.export.serving.BenchServeCommand;
import org.tfdiffusion.export.serving.ServeCommand;
import org.tfdiffusion.train.FineTuneCommand;
import org.tfdiffusion.train.TrainCommand;
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
      SampleCommand.class,
      ExportCommand.class,
      ServeCommand.class,
      BenchServeCommand.class,
      TrainClassifierCommand.class,
      EvalCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** Runs the launcher and exits with its status. */
  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The configured command line (exposed for tests). */
  public static CommandLine commandLine() {
    return TrainCommand.commandLine(new Main());
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
