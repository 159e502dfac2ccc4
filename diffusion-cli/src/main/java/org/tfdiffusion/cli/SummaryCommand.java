package org.tfdiffusion.cli;

import java.util.concurrent.Callable;
import org.tfdiffusion.model.UNet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Prints a model's parameters per block and its forward GFLOPs per image. */
@Command(
    name = "summary",
    mixinStandardHelpOptions = true,
    description = "Print a U-Net's parameters per block and its forward GFLOPs per image.")
final class SummaryCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ModelPreset preset;

  @Mixin ModelOptions model;

  @Override
  public Integer call() {
    out().printf("%s", new UNet(model.apply(preset.base())).summary().format());
    return 0;
  }

  private java.io.PrintWriter out() {
    return spec.commandLine().getOut();
  }
}
