package org.tfdiffusion.run;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.Module;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.deser.std.StdScalarDeserializer;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdScalarSerializer;
import java.io.IOException;
import java.util.function.Function;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.naming.Named;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.schedule.BetaSchedule;

/**
 * The {@link Named} enums of config.json as JSON strings: written as their {@link
 * Named#configName()}, read through the enum's own lookup, so a file accepts every name and alias a
 * command line does and refuses an unknown one with the lookup's message ("unknown sampler 'x';
 * valid: ...") on its first line.
 */
final class NamedJson {
  private NamedJson() {}

  /**
   * The module of {@link RunDirectory#json()}: Prediction, BetaSchedule, SamplerKind, Split,
   * FitMode.
   */
  static Module module() {
    SimpleModule module = new SimpleModule("tfdiffusion-named");
    add(module, Prediction.class, Prediction::lookup);
    add(module, BetaSchedule.class, BetaSchedule::lookup);
    add(module, SamplerKind.class, SamplerKind::lookup);
    add(module, Split.class, Split::lookup);
    add(module, FitMode.class, FitMode::lookup);
    return module;
  }

  private static <E extends Enum<E> & Named> void add(
      SimpleModule module, Class<E> type, Function<String, E> lookup) {
    module.addSerializer(type, new Writer<>(type));
    module.addDeserializer(type, new Reader<>(type, lookup));
  }

  /** Writes the canonical name. */
  private static final class Writer<E extends Enum<E> & Named> extends StdScalarSerializer<E> {
    Writer(Class<E> type) {
      super(type);
    }

    @Override
    public void serialize(E value, JsonGenerator gen, SerializerProvider provider)
        throws IOException {
      gen.writeString(value.configName());
    }
  }

  /** Reads a name or an alias; anything else fails with the lookup's message. */
  private static final class Reader<E extends Enum<E> & Named> extends StdScalarDeserializer<E> {
    private final transient Function<String, E> lookup;

    Reader(Class<E> type, Function<String, E> lookup) {
      super(type);
      this.lookup = lookup;
    }

    @Override
    public E deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
      String text = p.hasToken(JsonToken.VALUE_STRING) ? p.getText() : p.getValueAsString();
      try {
        return lookup.apply(text);
      } catch (IllegalArgumentException e) {
        throw InvalidFormatException.from(p, e.getMessage(), text, handledType());
      }
    }
  }
}
