/* lexicon.c — the word lists of the rules extractor (lowercase ASCII) and
 * the hash table that maps a word to the lists it belongs to. */
#include "lexicon.h"

#include <string.h>

static const char *const lists[LX_NLISTS] = {
    [LXI_STOP] =
        "the a an this that these those it its he she they we you i his her their our my "
        "your there here however but and or nor so yet if when while where whereas after "
        "before although though because since as at by for from in into of on onto to with "
        "without within about above across against along among around behind below beneath "
        "beside between beyond during except inside near off out outside over past through "
        "throughout toward towards under until unlike upon via also then thus therefore hence "
        "moreover furthermore meanwhile nevertheless nonetheless instead indeed still today "
        "yesterday tomorrow now later earlier first second third finally next last overall all "
        "any both each every few many most much no none not nothing one other several some such "
        "what which who whom whose why how yes according accordingly additionally besides "
        "consequently despite following given including like once per regarding similarly "
        "subsequently unless whether is was are were be been being has have had do does did "
        "will would shall should can could may might must us them him me let please note see "
        "new old only even just perhaps maybe often sometimes always never usually again "
        "everyone everything someone something anyone anything nobody both either neither "
        "currently recently initially eventually ultimately generally typically notably "
        "importantly interestingly unfortunately fortunately clearly obviously certainly "
        "whatever whichever wherever whenever once upon yet welcome thanks dear hello hi "
        "chapter section table figure page part step appendix summary introduction conclusion "
        "background overview abstract results methods discussion revenue revenues sales profit "
        "profits costs income growth shares prices demand production output exports imports "
        "earnings margins turnover analysts investors customers staff employees",
    [LXI_MONTH] =
        "january february march april may june july august september october november december "
        "jan feb mar apr jun jul aug sep sept oct nov dec",
    [LXI_DAY] = "monday tuesday wednesday thursday friday saturday sunday",
    [LXI_SUFFIX] =
        "inc incorporated ltd limited gmbh corp corporation llc llp ag sa plc nv bv co kg kgaa "
        "se oy oyj ab asa as spa srl sarl sas pty pte bhd lp ulc sl",
    [LXI_ORGWORD] =
        "bank group university institute ministry department agency company corporation "
        "foundation association council committee authority partners holdings technologies "
        "technology systems labs laboratories laboratory industries airlines airways motors "
        "energy capital ventures fund trust society academy college school hospital commission "
        "board office bureau federation union party church museum network networks solutions "
        "services consulting logistics shipping pharmaceuticals pharma bancorp insurance "
        "securities media studios records press times club team centre center institution "
        "organisation organization alliance consortium enterprises international global "
        "robotics software analytics research sciences health healthcare mining oil gas power "
        "electric telecom communications finance financial investments management "
        "manufacturing shipyard works mills brewery bureau court parliament senate congress "
        "navy army police service",
    [LXI_PLACEHEAD] =
        "city river lake mountain mount island islands bay gulf sea ocean valley county "
        "province state states street road avenue square park region district harbour harbor "
        "port airport republic kingdom peninsula coast strait canal desert forest cape fjord",
    [LXI_PLACE] =
        "norway sweden denmark finland iceland germany france spain portugal italy greece "
        "austria switzerland belgium netherlands poland ireland scotland england wales britain "
        "europe asia africa america australia canada mexico brazil argentina chile peru china "
        "japan korea india pakistan russia ukraine turkey egypt nigeria kenya israel iran iraq "
        "oslo bergen stavanger trondheim stockholm copenhagen helsinki berlin munich hamburg "
        "paris lyon madrid barcelona lisbon rome milan athens vienna zurich geneva brussels "
        "amsterdam rotterdam warsaw dublin london manchester edinburgh glasgow tokyo beijing "
        "shanghai singapore sydney melbourne toronto vancouver chicago boston seattle houston "
        "texas california florida denver atlanta dallas miami delhi mumbai moscow istanbul "
        "cairo lagos nairobi prague budapest",
    [LXI_TITLE] = "mr mrs ms miss dr prof professor sir dame lord lady rev mx madam monsieur herr frau",
    [LXI_ROLE] =
        "ceo cfo cto coo cio cmo cso chairman chairwoman chair chairperson president vice "
        "founder cofounder co-founder director manager head chief executive officer financial "
        "operating marketing information managing senior deputy minister secretary governor "
        "mayor spokesperson spokesman spokeswoman owner analyst engineer editor treasurer "
        "counsel dean rector chancellor ambassador commissioner lead leader researcher "
        "scientist economist founder chairwoman",
    [LXI_FIRST] =
        "ana maria john james robert michael william david richard joseph thomas charles mary "
        "patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy anna "
        "peter paul mark george steven andrew daniel laura emma olivia sophie lucas liam noah "
        "ella jan lars ole erik ingrid kari per nils hans klaus pierre jean marie luis carlos "
        "jose juan pedro miguel sofia lucia elena carmen ahmed mohammed ali fatima wei yuki "
        "hiroshi raj priya amit olga ivan sergei natalia tom tim ben sam alex chris kate anne "
        "helen eva julia martin henrik magnus sven astrid greta elsa ravi kenji omar leila "
        "sara marta jorge diego pablo emily grace henry jack oliver harry isabel victor hugo "
        "nina mia lena felix jonas kristin silje bjorn tor knut",
    [LXI_UNIT] =
        "kg g mg t tonnes tons tonne lb lbs oz km m cm mm nm mi miles mile ft feet inch inches "
        "yd l litres liters litre liter ml gal gallons kwh mwh gwh twh kw mw gw w v kv mah hz "
        "khz mhz ghz kb mb gb tb bytes bits s sec seconds ms minutes min hours h hrs days "
        "weeks months years units pieces barrels bbl m2 m3 km2 sqm hectares ha acres degrees "
        "knots mph kph teu",
    [LXI_SCALE] = "thousand million billion trillion mn m bn b k tn",
    [LXI_CURCODE] =
        "usd eur gbp chf jpy cny nok sek dkk cad aud inr rub brl krw zar sgd hkd nzd mxn pln "
        "czk huf",
    [LXI_CURWORD] =
        "dollars dollar euros euro pounds pound yen kroner krone kronor crowns francs yuan "
        "rupees",
    [LXI_CONNECT] = "of de da del der van von du la le di y bin al for the and",
    [LXI_COPULA] = "is was are were becomes became remains remained",
    [LXI_AUX] =
        "has have had will would shall should can could may might must did does do also "
        "recently formally officially reportedly already then just now finally quietly "
        "reportedly jointly successfully eventually previously later subsequently",
    [LXI_DET] = "a an the its their his her this that",
    [LXI_VERB] =
        "acquire acquired acquires buy bought buys sell sold sells own owns owned run runs ran "
        "lead leads led found founded founds join joined joins hire hired hires employ employs "
        "employed supply supplies supplied sign signed signs launch launched launches "
        "announce announced announces partner partnered partners invest invested invests "
        "merge merged merges build built builds make made makes win won wins pay paid pays "
        "sue sued sues fund funded funds manage managed manages operate operated operates "
        "develop developed develops produce produced produces open opened opens close closed "
        "closes license licensed licenses appoint appointed appoints name named names "
        "replace replaced replaces succeed succeeded succeeds visit visited visits meet met "
        "meets sponsor sponsored sponsors control controls controlled regulate regulates "
        "regulated hold holds held head heads headed chair chairs chaired audit audits "
        "audited advise advised advises ship shipped ships deliver delivered delivers "
        "receive received receives award awarded awards approve approved approves",
    [LXI_PREP] = "with in to from for on into over against at by about",
    [LXI_ROLEADJ] = "new former interim acting current previous then",
};

static uint32_t hash_str(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 16777619u; }
    return h;
}

static cc_status insert(cg_lexicon *lx, const char *w, size_t n, uint32_t bit)
{
    uint32_t h = hash_str(w, n), i;
    for (i = h & (LX_SLOTS - 1);; i = (i + 1) & (LX_SLOTS - 1)) {
        lx_slot *s = &lx->slot[i];
        if (!s->word) {
            if (lx->n + 1 >= LX_SLOTS / 2) return CC_NOMEM;
            s->word = w; s->len = (uint8_t)n; s->bits = bit; lx->n++;
            return CC_OK;
        }
        if (s->len == n && !memcmp(s->word, w, n)) { s->bits |= bit; return CC_OK; }
    }
}

cc_status cg_lexicon_init(cg_lexicon *lx)
{
    int l;
    memset(lx, 0, sizeof *lx);
    for (l = 0; l < LX_NLISTS; l++) {
        const char *p = lists[l];
        while (p && *p) {
            const char *q = p;
            while (*q && *q != ' ') q++;
            if (q > p && q - p < 32) {
                cc_status s = insert(lx, p, (size_t)(q - p), 1u << l);
                if (s) return s;
            }
            p = *q ? q + 1 : q;
        }
    }
    return CC_OK;
}

uint32_t cg_lexicon_get(const cg_lexicon *lx, const char *w, size_t n)
{
    uint32_t h, i;
    if (n == 0 || n >= 32) return 0;
    h = hash_str(w, n);
    for (i = h & (LX_SLOTS - 1);; i = (i + 1) & (LX_SLOTS - 1)) {
        const lx_slot *s = &lx->slot[i];
        if (!s->word) return 0;
        if (s->len == n && !memcmp(s->word, w, n)) return s->bits;
    }
}
