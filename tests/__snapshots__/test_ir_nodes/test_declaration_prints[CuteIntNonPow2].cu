using Tile = cute::Shape<cute::Int<96>, cute::_128, cute::_1>;
