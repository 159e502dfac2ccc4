package org.tfdiffusion.naming;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * An enum constant that users name on the command line and in config files: its names, the
 * canonical one (written to config files) first, then the aliases it is also found by (diffusers'
 * names, short forms). One lookup serves every such enum, so every one of them accepts a name the
 * same way (case, surrounding spaces, '-' or '_') and refuses an unknown one with the same message.
 */
public interface Named {
  /** The names, canonical first. */
  List<String> names();

  /** The canonical name, as config files and flags write it. */
  default String configName() {
    return names().get(0);
  }

  /**
   * The constant of {@code type} named {@code name}: case-insensitive, spaces around it ignored,
   * '-' and '_' alike; the Java constant's own name matches too.
   *
   * @param what what the enum is, for the message ("sampler", "sigma spacing")
   * @throws IllegalArgumentException "unknown WHAT 'NAME'; valid: ..." listing the canonical names,
   *     or "WHAT is null; valid: ..." for null
   */
  static <E extends Enum<E> & Named> E lookup(Class<E> type, String what, String name) {
    if (name == null) {
      throw new IllegalArgumentException(what + " is null; valid: " + validNames(type));
    }
    String key = normalize(name);
    for (E constant : type.getEnumConstants()) {
      if (normalize(constant.name()).equals(key)
          || constant.names().stream().anyMatch(n -> normalize(n).equals(key))) {
        return constant;
      }
    }
    throw new IllegalArgumentException(
        "unknown " + what + " '" + name + "'; valid: " + validNames(type));
  }

  /** The canonical names of {@code type}, comma-separated. */
  static <E extends Enum<E> & Named> String validNames(Class<E> type) {
    return Arrays.stream(type.getEnumConstants())
        .map(Named::configName)
        .collect(Collectors.joining(", "));
  }

  private static String normalize(String s) {
    return s.trim().toLowerCase(Locale.ROOT).replace('_', '-');
  }
}
