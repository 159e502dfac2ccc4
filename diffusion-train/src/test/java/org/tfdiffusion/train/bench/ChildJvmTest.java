package org.tfdiffusion.train.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChildJvmTest {
  @Test
  void passesHeapStackAndPropertiesButNotAgents() {
    assertThat(
            ChildJvm.jvmOptions(
                List.of(
                    "-Xmx2g",
                    "-Xss16m",
                    "-Dfoo=bar",
                    "-agentlib:jdwp=transport=dt_socket,server=y,address=5005",
                    "-javaagent:/tmp/jacoco.jar")))
        .containsExactly("-Xmx2g", "-Xss16m", "-Dfoo=bar");
  }

  @Test
  void commandRunsTheMainClassWithThisClassPathAndABigStack() {
    List<String> command = ChildJvm.command(ChildJvmTest.class, "a.jar:b.jar");
    assertThat(command.get(0)).endsWith("/bin/java");
    assertThat(command).anyMatch(a -> a.startsWith("-Xss"));
    assertThat(command.subList(command.size() - 3, command.size()))
        .containsExactly("-cp", "a.jar:b.jar", ChildJvmTest.class.getName());
  }
}
