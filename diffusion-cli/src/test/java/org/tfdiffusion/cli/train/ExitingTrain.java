package org.tfdiffusion.cli.train;

/**
 * {@code train} as the launcher runs it: {@code System.exit} with the command's status, also 0 (the
 * launcher's main class lives in diffusion-cli).
 */
public final class ExitingTrain {
  private ExitingTrain() {}

  public static void main(String[] args) {
    System.exit(TrainCommand.commandLine(new TrainCommand()).execute(args));
  }
}
