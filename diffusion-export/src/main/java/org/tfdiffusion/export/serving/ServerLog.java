package org.tfdiffusion.export.serving;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;

/**
 * Where the server writes what it does. Errors keep their stack traces here, on the server side;
 * clients only ever see the one-line message.
 */
public interface ServerLog {
  void info(String message);

  void error(String message, Throwable cause);

  /** Lines with a time stamp on {@code out}; stack traces only when {@code traces}. */
  static ServerLog to(PrintWriter out, boolean traces) {
    DateTimeFormatter time = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    return new ServerLog() {
      @Override
      public void info(String message) {
        synchronized (out) {
          out.println(LocalTime.now().format(time) + " " + message);
          out.flush();
        }
      }

      @Override
      public void error(String message, Throwable cause) {
        StringBuilder s =
            new StringBuilder(LocalTime.now().format(time)).append(" ERROR ").append(message);
        if (cause != null) {
          if (traces) {
            StringWriter w = new StringWriter();
            cause.printStackTrace(new PrintWriter(w));
            s.append('\n').append(w.toString().stripTrailing());
          } else {
            s.append(": ").append(cause);
          }
        }
        synchronized (out) {
          out.println(s);
          out.flush();
        }
      }
    };
  }

  /** Discards everything. */
  static ServerLog quiet() {
    return new ServerLog() {
      @Override
      public void info(String message) {}

      @Override
      public void error(String message, Throwable cause) {}
    };
  }
}
