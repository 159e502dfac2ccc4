package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP/1.1 over a plain socket, for what an HTTP client library will not send: partial or malformed
 * requests, huge headers, bodies that never come, clients that hang up.
 */
final class RawHttp implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper();

  /** One response as read from the socket. */
  record Response(int status, Map<String, String> headers, byte[] body) {
    String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }

    String text() {
      return new String(body, StandardCharsets.UTF_8);
    }

    JsonNode json() throws IOException {
      return JSON.readTree(body);
    }

    String error() throws IOException {
      return json().path("error").asText();
    }
  }

  private final Socket socket;

  private RawHttp(Socket socket) {
    this.socket = socket;
  }

  /** A connection to the server, whose reads give up after {@code timeout}. */
  static RawHttp open(RestServer server, Duration timeout) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", server.port()), (int) timeout.toMillis());
    s.setSoTimeout((int) timeout.toMillis());
    s.setTcpNoDelay(true);
    return new RawHttp(s);
  }

  /** Sends these bytes as they are (ISO-8859-1). */
  RawHttp send(String text) throws IOException {
    return send(text.getBytes(StandardCharsets.ISO_8859_1));
  }

  RawHttp send(byte[] bytes) throws IOException {
    OutputStream out = socket.getOutputStream();
    out.write(bytes);
    out.flush();
    return this;
  }

  /** A complete request with a body (Content-Length) on this connection. */
  static String request(String method, String path, String body) {
    byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    return method
        + " "
        + path
        + " HTTP/1.1\r\nHost: localhost\r\n"
        + (body == null
            ? ""
            : "Content-Type: application/json\r\nContent-Length: " + b.length + "\r\n")
        + "\r\n"
        + (body == null ? "" : new String(b, StandardCharsets.ISO_8859_1));
  }

  /**
   * Reads one response (status line, headers, a Content-Length or chunked body, or a body up to the
   * end of the stream).
   *
   * @throws SocketTimeoutException when nothing complete arrives in time
   * @throws IOException when the server closed the connection before a status line
   */
  Response read() throws IOException {
    return read(false);
  }

  /** Reads one response to a HEAD request ({@code head}: no body, whatever its headers say). */
  Response read(boolean head) throws IOException {
    InputStream in = socket.getInputStream();
    String status = line(in);
    if (status == null) {
      throw new IOException("the server closed the connection without an answer");
    }
    if (!status.startsWith("HTTP/1.")) {
      throw new IOException("not an HTTP status line: " + status);
    }
    int code = Integer.parseInt(status.split(" ")[1]);
    Map<String, String> headers = new LinkedHashMap<>();
    for (String h = line(in); h != null && !h.isEmpty(); h = line(in)) {
      int colon = h.indexOf(':');
      headers.put(
          h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
    }
    byte[] body;
    if (head || code < 200 || code == 204 || code == 304) {
      body = new byte[0];
    } else if (headers.containsKey("content-length")) {
      body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
    } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      for (int n = Integer.parseInt(line(in).trim(), 16);
          n > 0;
          n = Integer.parseInt(line(in).trim(), 16)) {
        b.write(in.readNBytes(n));
        line(in);
      }
      line(in);
      body = b.toByteArray();
    } else {
      body = in.readAllBytes();
    }
    return new Response(code, headers, body);
  }

  /** Whether some of an answer has arrived (without reading it). */
  boolean hasInput() throws IOException {
    return socket.getInputStream().available() > 0;
  }

  /** Whether the server closed this connection (end of stream) within {@code wait}. */
  boolean closedWithin(Duration wait) throws IOException {
    int old = socket.getSoTimeout();
    socket.setSoTimeout((int) Math.max(1, wait.toMillis()));
    try {
      InputStream in = socket.getInputStream();
      long deadline = System.nanoTime() + wait.toNanos();
      while (System.nanoTime() < deadline) {
        if (in.read() < 0) {
          return true;
        }
      }
      return false;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException reset) {
      return true;
    } finally {
      socket.setSoTimeout(old);
    }
  }

  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) >= 0) {
      if (c == '\n') {
        byte[] bytes = b.toByteArray();
        int n =
            bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
      }
      b.write(c);
    }
    return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
