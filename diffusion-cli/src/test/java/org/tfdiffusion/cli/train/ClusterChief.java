package org.tfdiffusion.cli.train;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.DistributedTraining;
import org.tfdiffusion.train.Trainer;
import org.tfdiffusion.train.cluster.ClusterSpec;

/**
 * For tests: the chief (task 0) of a loopback cluster training a config given as JSON, so that a
 * test can choose settings the command line does not offer (such as Adam's ε). Exits with 0, or
 * with 2 after printing {@code error: ...} as the train command does.
 *
 * <p>Arguments: the config file, the run folder, the {@code --cluster} value.
 */
public final class ClusterChief {
  private ClusterChief() {}

  public static void main(String[] args) throws Exception {
    TrainConfig config =
        RunDirectory.json().readValue(Path.of(args[0]).toFile(), TrainConfig.class);
    PrintWriter out = new PrintWriter(System.out, true);
    try {
      DistributedTraining cluster = DistributedTraining.of(ClusterSpec.parse(args[2], 0));
      cluster.startChief(out);
      new Trainer(out, Trainer.Progress.LINES, SessionOptions.defaults(), Optional.of(cluster))
          .train(Path.of(args[1]), config);
    } catch (IllegalArgumentException | IllegalStateException e) {
      out.println("error: " + e.getMessage());
      System.exit(2);
    }
    System.exit(0);
  }
}
