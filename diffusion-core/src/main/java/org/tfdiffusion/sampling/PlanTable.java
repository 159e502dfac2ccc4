package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.primitives.ImmutableIntArray;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The plans of one sampler for N = 1..max in one {@link SamplingPlan}, so that a graph chooses N at
 * run time ({@link SamplingLoop.RuntimeSteps}): plan N is the {@link #length} steps from {@link
 * #offset}. A plan whose steps are exactly the last steps of a longer plan already in the table is
 * not stored again but run from inside that one. With leading spacing every DDIM or DDPM plan of
 * the same stride T / N is a tail of the longest one, so N = 1..1000 on a 1000-step schedule take
 * 4,510 steps instead of the 500,500 of all plans laid end to end; plans that share nothing
 * (multistep solvers, whose first steps have no history) are laid end to end.
 *
 * @param plan the stored steps
 * @param offsets index N: where plan N starts in {@code plan} (entry 0 unused)
 * @param lengths index N: plan N's number of model evaluations (entry 0 unused)
 */
public record PlanTable(SamplingPlan plan, ImmutableIntArray offsets, ImmutableIntArray lengths) {

  public PlanTable {
    checkArgument(
        offsets.length() == lengths.length() && offsets.length() >= 2,
        "a plan table needs an offset and a length for N = 1..max");
  }

  /**
   * Builds the table.
   *
   * @param name the table's name, for logs
   * @param plans plan N for N = 1..max
   * @param max the largest N, at least 1
   */
  public static PlanTable of(String name, IntFunction<SamplingPlan> plans, int max) {
    checkArgument(max >= 1, "a plan table needs max >= 1, got %s", max);
    int[] offsets = new int[max + 1];
    int[] lengths = new int[max + 1];
    List<SamplingPlan> stored = new ArrayList<>();
    List<Integer> storedAt = new ArrayList<>();
    int size = 0;
    // longest first, so that a shorter plan finds the longer one it is a tail of
    for (int n = max; n >= 1; n--) {
      SamplingPlan p = plans.apply(n);
      lengths[n] = p.steps();
      int at = -1;
      for (int k = 0; k < stored.size() && at < 0; k++) {
        SamplingPlan s = stored.get(k);
        if (s.endsWith(p)) {
          at = storedAt.get(k) + s.steps() - p.steps();
        }
      }
      if (at < 0) {
        at = size;
        stored.add(p);
        storedAt.add(size);
        size += p.steps();
      }
      offsets[n] = at;
    }
    return new PlanTable(
        SamplingPlan.concat(name, stored),
        ImmutableIntArray.copyOf(offsets),
        ImmutableIntArray.copyOf(lengths));
  }

  /** The largest N. */
  public int max() {
    return offsets.length() - 1;
  }

  /** Where plan N starts in {@link #plan}. */
  public int offset(int n) {
    checkArgument(n >= 1 && n <= max(), "N must be in [1, %s], got %s", max(), n);
    return offsets.get(n);
  }

  /** Plan N's number of model evaluations. */
  public int length(int n) {
    checkArgument(n >= 1 && n <= max(), "N must be in [1, %s], got %s", max(), n);
    return lengths.get(n);
  }
}
