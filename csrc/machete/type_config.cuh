// machete/type_config.cuh -- the eight-field type configuration the generator instantiates.
#pragma once

#include <type_traits>

namespace machete {

// Field order is fixed by the generator (SPEC §2): A, B, GroupScale, GroupZero, ChannelScale,
// TokenScale, Out, Accumulator. `void` marks an absent operand.
template <class A_, class B_, class GroupScale_, class GroupZero_, class ChannelScale_,
          class TokenScale_, class Out_, class Accumulator_>
struct TypeConfig {
  using A = A_;
  using B = B_;
  using GroupScale = GroupScale_;
  using GroupZero = GroupZero_;
  using ChannelScale = ChannelScale_;
  using TokenScale = TokenScale_;
  using Out = Out_;
  using Accumulator = Accumulator_;

  static constexpr bool has_group_scales = !std::is_void_v<GroupScale_>;
  static constexpr bool has_group_zeros = !std::is_void_v<GroupZero_>;
  static constexpr bool has_channel_scales = !std::is_void_v<ChannelScale_>;
  static constexpr bool has_token_scales = !std::is_void_v<TokenScale_>;
};

}  // namespace machete
