"""The stories the `tracker demo` network publishes: invented news, written for the demo.

Every article, name, number and event here is fictional (written for this project, not
taken from any publication); they only read like the regional wire copy a mirror would
scrape. `ARTICLES` are the originals the network copies; `MARKET_WRAPS` are two
unrelated stories that share a title, so the demo can show that a title alone never
makes two items one story.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoArticle:
    """One invented news story: its headline, URL slug and body paragraphs."""

    title: str
    slug: str
    paragraphs: tuple[str, ...]
    standfirst: str = ""   # a teaser written apart from the text, as summary-only feeds give

    @property
    def summary(self) -> str:
        """The first sentence, as a WordPress excerpt would open."""
        first = self.paragraphs[0]
        end = first.find(". ")
        return first if end < 0 else first[: end + 1]


ARTICLES: tuple[DemoArticle, ...] = (
    DemoArticle(
        title="Torkham Crossing Reopens to Trade After Week-Long Closure",
        slug="torkham-crossing-reopens-to-trade-after-week-long-closure",
        paragraphs=(
            "The Torkham border crossing between Afghanistan and Pakistan reopened to commercial traffic on "
            "Tuesday morning, ending a week-long closure that left hundreds of cargo trucks stranded on both "
            "sides of the frontier. Officials in Nangarhar province said the first vehicles carrying fresh fruit "
            "and coal began moving shortly after dawn, and that pedestrian crossings would resume later in the day.",
            "The closure followed a dispute over the construction of a new checkpost near the main gate, "
            "according to local officials. Tribal elders from both sides held several rounds of talks over the "
            "weekend before reaching an understanding late on Monday. Neither government has published the terms "
            "of the arrangement, but traders said they had been told the building work would be paused.",
            "Drivers waiting in the queue described difficult conditions during the closure. Many slept in their "
            "cabs in freezing temperatures, and some said perishable goods such as pomegranates and grapes had "
            "spoiled before they could be delivered. A transport union representative in Jalalabad estimated that "
            "losses ran into several million dollars, although no official figures have been released.",
            "Torkham is the busiest crossing point between the two countries and a vital route for Afghan exports "
            "to South Asian markets. Closures have become frequent in recent years, often triggered by "
            "disagreements over border fencing, documentation rules or security incidents. Each interruption "
            "raises prices in Kabul markets within days, as imported flour, cooking oil and medicine become scarce.",
            "Business leaders welcomed the reopening but called for a lasting mechanism to keep the gate open "
            "during disputes. The chamber of commerce in Kabul said in a statement that trade should be kept "
            "separate from political and security disagreements, and urged both sides to set up a joint committee "
            "that could resolve problems at the crossing without halting traffic.",
        ),
    ),
    DemoArticle(
        title="Balkh Farmers Expect Larger Wheat Harvest After Good Autumn Rains",
        slug="balkh-farmers-expect-larger-wheat-harvest-after-good-autumn-rains",
        paragraphs=(
            "Farmers in northern Balkh province say they expect a larger wheat harvest this year after steady "
            "autumn rains allowed them to sow more land than in the previous two seasons. Agriculture officials "
            "estimate that the area planted with winter wheat has grown by nearly a fifth, with the biggest "
            "increases in the districts of Chahar Bolak and Dawlatabad.",
            "For several years, drought forced many families in the province to leave fields unplanted or to switch "
            "to crops that need less water. Ghulam Sakhi, a farmer from Dawlatabad, said this season was the first "
            "time in years that he had sown all of his land. He added that the young wheat was already well "
            "established before the first snow fell in December.",
            "The provincial agriculture department distributed improved seed and fertiliser to around six thousand "
            "households before the planting season, with support from aid organisations. Officials said the new "
            "seed varieties resist rust disease better and give higher yields, although some farmers complained "
            "that the distribution did not reach remote villages in time for sowing.",
            "Afghanistan produces only part of the wheat it consumes and relies on imports of grain and flour from "
            "Kazakhstan and Pakistan to meet the rest of its needs. Economists say a good domestic harvest can lower "
            "bread prices and reduce the country's exposure to sudden changes in regional markets, such as export "
            "bans or closures at border crossings.",
            "Farmers cautioned that the outcome still depends on the weather in the coming months. A dry spring or "
            "a late frost could reduce yields sharply, they said, and many lack the means to irrigate their fields "
            "if rainfall fails. Several called on the authorities to repair old irrigation canals in the province "
            "before the growing season begins in March.",
        ),
    ),
    DemoArticle(
        title="Herat Launches Enrolment Drive to Bring Children Back to Primary School",
        slug="herat-launches-enrolment-drive-to-bring-children-back-to-primary-school",
        paragraphs=(
            "Education officials in western Herat province have launched a campaign to enrol children who have "
            "never attended school or who dropped out during recent years of economic hardship. Teams of teachers "
            "and volunteers will visit villages and city neighbourhoods over the next two months to register "
            "children between seven and twelve years old before the new school year begins in March.",
            "The provincial education department said more than forty thousand children of primary school age in "
            "Herat are currently out of school. Many of them work to support their families, collecting scrap "
            "metal, selling goods in markets or weaving carpets at home. Officials said they hope to register at "
            "least half of them during this campaign.",
            "Parents in the city said that the cost of uniforms, books and transport is the main reason their "
            "children stay at home. To address this, a local charity has promised free stationery and a school bag "
            "for every newly registered child, and several schools have agreed to run afternoon shifts so that "
            "working children can still attend classes.",
            "Teachers involved in the campaign said persuading families is often harder than finding places in "
            "classrooms. Some parents worry about losing the income their children bring home, while families who "
            "returned recently from Iran lack the documents schools usually require. Officials said registration "
            "would be accepted without full paperwork, and that missing documents could be supplied later.",
        ),
    ),
    DemoArticle(
        title="Relief Teams Reach Remote Badakhshan Villages After Earthquake",
        slug="relief-teams-reach-remote-badakhshan-villages-after-earthquake",
        paragraphs=(
            "Relief teams have reached several remote villages in northeastern Badakhshan province that were cut "
            "off by landslides after a moderate earthquake struck the region on Sunday night. Local officials said "
            "the tremor damaged more than three hundred homes in two mountain districts, forcing many families to "
            "spend the night outdoors in sub-zero temperatures.",
            "According to the provincial disaster management office, four people were killed and at least "
            "twenty-seven were injured, most of them by falling walls and roofs. The injured were taken to the "
            "provincial hospital in Faizabad by road and, in two cases, carried on stretchers across blocked "
            "mountain paths until vehicles could reach them.",
            "Aid organisations delivered tents, blankets, heating fuel and food packages on Tuesday after road crews "
            "cleared the main route into the valley. A worker with a local relief group said the most urgent need "
            "was warm shelter, since snow is forecast for the coming days and many of the damaged houses are no "
            "longer safe to live in.",
            "Residents said the earthquake was the strongest they had felt in several years. Houses in the area are "
            "mostly built of stone and mud, which makes them vulnerable even to moderate tremors. Engineers who "
            "visited the district advised families not to sleep in buildings with cracked walls until the "
            "structures have been inspected.",
            "Badakhshan lies in one of the most seismically active parts of the region, where the Hindu Kush "
            "mountains are shaped by the slow collision of tectonic plates. Officials urged donors to support "
            "longer-term reconstruction with safer building methods, saying that emergency aid alone would not "
            "protect villages from the next earthquake.",
        ),
    ),
    DemoArticle(
        title="Kabul and Tashkent Sign Agreement to Expand Transit Trade",
        slug="kabul-and-tashkent-sign-agreement-to-expand-transit-trade",
        paragraphs=(
            "Afghanistan and Uzbekistan signed an agreement in Kabul on Tuesday aimed at expanding transit trade "
            "between the two countries and cutting the time goods spend waiting at the border. Officials from both "
            "sides said the deal covers customs procedures, the use of the Hairatan river port and a shared system "
            "for tracking cargo moving by road and rail.",
            "Under the agreement, trucks carrying sealed containers will be allowed to cross the Friendship Bridge "
            "with a single inspection rather than separate checks on each side. Officials said the change could "
            "reduce waiting times from several days to a few hours, and would particularly benefit exporters of "
            "dried fruit, cotton and carpets who depend on Central Asian buyers.",
            "The two countries also agreed to study an increase in rail freight through Hairatan, which handles a "
            "large share of Afghanistan's fuel and wheat imports. A working group of railway and customs officials "
            "is expected to meet in Termez next month to discuss tariffs, loading capacity and the maintenance of "
            "the line between the border and Mazar-i-Sharif.",
            "Trade between Afghanistan and Uzbekistan has grown steadily in recent years, although it remains "
            "heavily weighted toward Uzbek exports of flour, fuel and electricity. Afghan officials said they hoped "
            "simpler procedures would help local producers sell more in Uzbek markets and beyond, and narrow the "
            "trade gap between the two neighbours.",
            "Members of the Afghan business community said the agreement was a useful step but warned that its "
            "success would depend on how it is applied at the border. Several traders said that similar promises "
            "in the past had been undermined by unofficial fees and frequent changes in the rules, and called for "
            "a hotline where drivers could report problems.",
        ),
    ),
    DemoArticle(
        title="Afghanistan Chase Down 243 to Level One-Day Series in Sharjah",
        slug="afghanistan-chase-down-243-to-level-one-day-series-in-sharjah",
        paragraphs=(
            "Afghanistan levelled their three-match one-day series against Ireland with a six-wicket win in "
            "Sharjah on Tuesday, reaching a target of 243 with nine balls to spare. A patient half-century from "
            "the young opener Samiullah Zadran and an unbroken partnership in the closing overs carried the side "
            "home after a middle-order wobble had threatened to undo a good start.",
            "Ireland chose to bat first on a dry pitch and reached 150 for two in the thirtieth over before the "
            "Afghan spinners took control. Three wickets fell for eleven runs in the space of four overs, and the "
            "visitors were eventually bowled out for 242 in the final over, with their captain top-scoring with a "
            "composed 78.",
            "In reply, Zadran and his opening partner put on 71 for the first wicket, but Afghanistan lost two more "
            "quick wickets either side of the drinks break. Zadran steadied the innings with a careful 64 before "
            "he was caught at deep midwicket, leaving his side needing 83 runs from the last fourteen overs with "
            "six wickets in hand.",
            "The all-rounder Habib Noori and wicketkeeper Idrees Safi then added an unbroken 84, mixing quick "
            "singles with occasional boundaries against the seamers. Noori finished unbeaten on 47 and was named "
            "player of the match for his innings and two wickets earlier in the day. The deciding match of the "
            "series will be played at the same ground on Friday.",
        ),
    ),
)

_MARKET_WRAP_TITLE = "Market Wrap: Afghani Holds Steady in Kabul Trading"

# (Khaama Press's wrap, Kabul Market Watch's wrap): one title, two unrelated texts.
MARKET_WRAPS: tuple[DemoArticle, DemoArticle] = (
    DemoArticle(
        title=_MARKET_WRAP_TITLE,
        slug="market-wrap-afghani-holds-steady-in-kabul-trading",
        paragraphs=(
            "The afghani held steady against the US dollar in the Kabul money exchange market on Tuesday, trading "
            "at around seventy afghanis to the dollar for the third day running. Money changers at the Sarai "
            "Shahzada market said demand for foreign currency was subdued as importers waited for border crossings "
            "to reopen before placing new orders.",
            "The central bank continued its regular currency auctions, selling several million dollars to licensed "
            "money changers and banks. Analysts say the auctions, together with remittances and aid inflows, have "
            "helped to keep the exchange rate stable over the past year, although they warn that the currency "
            "remains vulnerable to any sudden fall in humanitarian funding.",
            "Gold rose slightly in the city's jewellery markets, following international trends, while the "
            "Pakistani rupee and the Iranian toman were little changed against the afghani. Traders said they "
            "expected quiet conditions to continue until the end of the week, when importers usually settle their "
            "accounts with suppliers in neighbouring countries.",
            "Shopkeepers in the old city reported modest trade in household goods as families prepared for colder "
            "weather. Sellers of firewood and coal said prices had eased compared with last month, thanks to larger "
            "deliveries from the northern provinces, although they remained higher than a year ago because of "
            "increased transport costs.",
        ),
    ),
    DemoArticle(
        title=_MARKET_WRAP_TITLE,
        slug="market-wrap-afghani-holds-steady-in-kabul-trading",
        paragraphs=(
            "Wholesale food markets in the capital opened the week with firm prices for flour and rice, as dealers "
            "reported steady deliveries from the north despite icy roads on the Salang pass. A fifty-kilogram sack "
            "of imported flour sold for roughly the same price as last week, while domestic rice from Baghlan "
            "gained a little on strong demand from restaurants.",
            "Cooking oil remained the main worry for shoppers, with five-litre containers selling well above their "
            "level of a year ago. Wholesalers in the Mandawi bazaar blamed higher shipping costs and a weaker supply "
            "of palm oil from Southeast Asia, and said retail prices were unlikely to fall before the spring.",
            "Vegetable sellers said the cold weather had cut supplies of tomatoes and cucumbers from Nangarhar, "
            "pushing prices up for a second week. Potatoes and onions, which are stored in large quantities during "
            "the autumn, were plentiful and cheap, and several grocers said customers were buying them in place of "
            "more expensive produce.",
            "Meat prices were stable, with mutton and beef unchanged on the week, but poultry edged higher as farms "
            "on the edge of the city struggled with heating costs. Dealers expect little change in the coming days "
            "unless snow closes the main highways, which usually leads to sudden jumps in the price of fresh goods.",
        ),
    ),
)

# The Hindu Kush Herald's story: its feed carries only the standfirst (a sentence of its
# own, sharing no wording with the text), its article page the whole text, which a
# scraper mirror republishes without credit. Read from the feed alone, nothing links them.
HERALD_ARTICLE = DemoArticle(
    title="Kandahar Pomegranate Growers Open First Shared Cold Store",
    slug="kandahar-pomegranate-growers-open-first-shared-cold-store",
    standfirst="Orchard owners hope that keeping their crop fresh until winter will double what each harvest earns.",
    paragraphs=(
        "A cooperative of pomegranate growers in southern Kandahar province opened the region's first shared cold "
        "store on Monday, allowing farmers to keep their fruit for several months instead of selling it at harvest. "
        "Members said the building, on the edge of the Arghandab district, can hold about two thousand tonnes.",
        "Until now most growers have had to sell their crop within weeks of picking, when markets are flooded and "
        "prices fall to their lowest point of the year. Haji Abdul Wali, who farms eight acres of orchards, said "
        "traders had paid him less than half the winter price for the last three harvests.",
        "The store was built with loans from a local microfinance institution and a grant from an agricultural "
        "development programme. Each of the two hundred member families pays a small fee per crate, and the "
        "cooperative plans to use part of the income to buy a refrigerated truck for deliveries to Kabul.",
        "Exporters welcomed the project, saying buyers in India and the Gulf want steady supplies of fruit over a "
        "longer season. They warned, however, that frequent power cuts in the province could spoil stored fruit "
        "unless the cooperative invests in reliable generators or solar panels to keep the rooms cold.",
    ),
)
