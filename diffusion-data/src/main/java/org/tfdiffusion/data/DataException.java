package org.tfdiffusion.data;

/**
 * Training data that is missing or bad, found while loading, before any training starts. The
 * message names the file (or folder) and says how to fix it.
 */
public final class DataException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  DataException(String message) {
    super(message);
  }

  DataException(String message, Throwable cause) {
    super(message, cause);
  }
}
